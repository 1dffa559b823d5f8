"""`SpawnProtocol`: the node's side of Spawn's actor-host protocol, wired from the node's parts.

It owns the protocol listener, the registry of actor hosts, and the client that calls them, and
keeps each system's actor types in step with the registrations: Python types first, then every
registered host actor whose name no Python type takes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web

import roost
from roost.errors import BadRequest, ConfigError, RoostError, SystemNotFound
from roost.membership.base import MemberStatus
from roost.membership.systems import hosts_system
from roost.node.request import Request
from roost.node.responses import Reply, json_response
from roost.node.routes import Routes
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.external import build_types, problems
from roost.node.spawnproto.hostclient import HostClient
from roost.node.spawnproto.registry import HostEntry, HostRegistry
from roost.node.spawnproto.server import ProtocolApi
from roost.runtime.types import SystemTypes

if TYPE_CHECKING:
    from roost.node.surface import SpawnNode

log = logging.getLogger("roost.spawnproto")

REFRESH_EVERY = 5.0  # s between re-reads of the registrations (peers also push each one)
HEALTH_EVERY = 2.0  # s between probes of every registered host
PUSH_PATH = "/internal/v1/spawn/registrations"
PUSH_TIMEOUT = 2.0


class SpawnProtocol:
    def __init__(self, node: SpawnNode) -> None:
        self.node = node
        cfg = node.config
        self.version = roost.__version__
        self.client = HostClient()
        self.python_types = dict(node.core.systems)
        self.registry = HostRegistry(
            node_id=cfg.node_id,
            store=node.core.store,
            scan=node.core.scan_prefix,
            client=self.client,
            on_change=self._install,
            lease_s=cfg.lease,
        )
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the registrations, open the listener, start refreshing and probing hosts."""
        try:
            await self.registry.load()
        except RoostError as exc:
            log.warning("could not read actor host registrations yet: %s", exc)
        await self._listen()
        self.node.background(self._refresh(), "spawn registrations refresh")
        self.node.background(self._probe(), "spawn host health")

    async def _listen(self) -> None:
        cfg = self.node.config
        where = cfg.proxy_host_port
        if where is None:
            return
        self._runner = web.AppRunner(ProtocolApi(self).app(), access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, where[0], where[1], reuse_address=True)
        try:
            await self._site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = self._site = None
            msg = f"cannot listen on {where[0]}:{where[1]} for actor hosts: {exc.strerror or exc}"
            if cfg.proxy_http is not None:
                raise ConfigError(msg) from exc
            log.warning("%s (set --proxy-http to choose another address)", msg)
            return
        log.info("Spawn protocol for actor hosts on %s:%d", *where)

    async def stop_listening(self) -> None:
        if self._site is not None:
            await self._site.stop()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.client.close()

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            try:
                await self.registry.load()
            except RoostError as exc:
                log.warning("refreshing actor host registrations failed: %s", exc)

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_EVERY)
            await self.registry.check_health()

    # --- registrations ------------------------------------------------------------------------

    def callback_url(self, remote: str | None, port_header: str | None) -> str:
        """Where to call a host that registered from `remote`: --actor-host if set, else the
        registering address on the port the host named (Roost SDKs) or --actor-host-port."""
        cfg = self.node.config
        if cfg.actor_host:
            return cfg.actor_host.rstrip("/")
        port = cfg.actor_host_port
        if port_header is not None:
            try:
                port = int(port_header)
            except ValueError:
                port = 0
            if not 1 <= port <= 65535:
                raise BadRequest(f"X-Roost-Actor-Host-Port {port_header[:20]!r} is not a port")
        host = remote or "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def register(self, request: P.RegistrationRequest, url: str) -> HostEntry:
        system = request.actor_system.name
        if system not in self.python_types and not self._hosted_elsewhere(system):
            raise SystemNotFound(f"system {system!r} is not hosted by this cluster")
        python = self.python_types.get(system)
        reserved = {t.name for t in python.all_types()} if python else set()
        bad = problems(request, reserved)
        if bad:
            raise BadRequest("registration refused: " + "; ".join(bad))
        entry = await self.registry.register(system, url, request)
        names = sorted(request.actor_system.registry.actors)
        log.info("actor host %s registered %s in system %s", url, ", ".join(names), system)
        await self._push()
        return entry

    def _hosted_elsewhere(self, system: str) -> bool:
        me = self.node.config.node_id
        members = self.node.view().members.values()
        return any(m.id != me and m.alive and hosts_system(m, system) for m in members)

    def _install(self) -> None:
        """Rebuild the types of every system this node hosts: its Python types, then the host
        actors registered for it (a registration of another system waits in the store)."""
        timeout = self.node.config.request_timeout
        by_system = self.registry.by_system()
        core = self.node.core
        for system, python in self.python_types.items():
            types = list(python.all_types())
            taken = {t.name for t in types}
            hosted = build_types(
                by_system.get(system, []), hosts=self.registry, client=self.client, timeout=timeout
            )
            types += [t for t in hosted if t.name not in taken]
            core.set_system(SystemTypes.build(system, types))

    async def _push(self) -> None:
        """Tell every peer to re-read the registrations now (the periodic refresh is the
        fallback for a peer that misses this)."""
        view = self.node.view()
        me = self.node.config.node_id
        peers = [
            m
            for m in view.members.values()
            if m.id != me and m.status in (MemberStatus.ACTIVE, MemberStatus.JOINING)
        ]
        fwd = self.node.forwarder  # the peers' scheme and TLS context (http or https)
        if not peers or fwd is None:
            return
        await asyncio.gather(
            *(fwd.post_json(m, PUSH_PATH, {}, PUSH_TIMEOUT) for m in peers), return_exceptions=True
        )

    def add_internal_routes(self, r: Routes) -> None:
        r.post(PUSH_PATH, self._on_push)

    async def _on_push(self, request: Request) -> Reply:
        body = await request.read()
        self.node.verify_internal(request.method, request.path_qs, body, request.headers)
        changed = await self.registry.load()
        return json_response({"changed": changed})
