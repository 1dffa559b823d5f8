"""`Node`: the composition root. Builds every part from a `NodeConfig` and runs the lifecycle:

start:  HTTP up (liveness) -> statestore migrated -> membership joined -> status `active`, ready
drain:  not ready -> status `draining` (peers route elsewhere) -> every activation handed off with
        its state flushed -> in-flight calls finished -> `serf leave` -> HTTP down -> exit 0
A second SIGTERM/SIGINT, or the drain timeout, forces a final flush attempt and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import signal
import time
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from typing import Any

from roost.errors import (
    RETRY_AFTER,
    ActionNotFound,
    ConfigError,
    Overloaded,
    StoreUnavailable,
    Timeout,
    Unavailable,
)
from roost.membership.base import LocalMembership, Membership, MemberStatus, MemberView
from roost.membership.systems import SYSTEMS_TAG
from roost.metrics import Metrics
from roost.node import local, policies
from roost.node.apiauth import ApiAuth
from roost.node.config import NodeConfig
from roost.node.core import Core
from roost.node.http import RING_VERSION, HttpApi
from roost.node.loader import build_systems, build_types, load_class
from roost.node.probes import ProbeServer, ProbeState, publish, refresh
from roost.node.routes import Routes
from roost.node.server import HttpServer
from roost.node.spawnproto import SpawnProtocol
from roost.node.status import StatusApi
from roost.node.tls import NodeTls, remote_context
from roost.placement.auth import HEADER, Verifier, derive_key
from roost.placement.forward import HttpForwarder
from roost.placement.gateway import HttpRemoteSystems
from roost.placement.link import LINK_TAG, LinkForwarder
from roost.placement.linkserver import LinkServer, bind
from roost.placement.placement import Placement
from roost.placement.ring import HASH_NAME, RING_TAG, Ring
from roost.runtime.labels import invocation_labels
from roost.runtime.types import SystemTypes
from roost.sdk.context import ActorId
from roost.sdk.workflow import Broadcast
from roost.statestore.base import StateStore
from roost.statestore.crypto import Keyring
from roost.statestore.encrypted import EncryptedStore
from roost.statestore.routed import RoutedStore
from roost.statestore.url import open_backend, redact
from roost.tracing import Tracing
from roost.tracing import from_config as tracing_from_config

log = logging.getLogger("roost.node")

# The router answers 503 at the deadline when it could not place a call; the HTTP deadline waits
# a little longer so that 504 means "a turn ran too long", not "placement gave up".
DEADLINE_GRACE = 0.25
# A forced stop gives a call still running this long to notice its cancellation.
ABANDON_WAIT = 0.1


class Node:
    def __init__(
        self,
        config: NodeConfig,
        *,
        actor_classes: Sequence[type] | None = None,
        membership: Membership | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        config.validate()
        self.config = config
        classes = (
            list(actor_classes)
            if actor_classes is not None
            else [load_class(s) for s in config.actors]
        )
        systems = build_systems(config.systems, build_types(classes))
        self.systems = systems
        # what peers need to build each system's ring: the systems this node hosts
        self._tags: tuple[tuple[str, str], ...] = (
            (SYSTEMS_TAG, ",".join(sorted(systems))),
            (RING_TAG, HASH_NAME),  # while a member lacks it, all route with the older ring
        )
        if not config.statestore_key:
            raise ConfigError(
                "ROOST_STATESTORE_KEY is not set. Generate a key with `roost keygen` and export "
                "it (keep it secret: it encrypts every actor's state)"
            )
        keyring = Keyring.from_text(config.statestore_key, config.statestore_old_keys)
        self.api_auth = _api_auth(config)  # None: the public API needs no token
        self.policies = policies.load(config.policies) if config.policies else None
        if self.policies is not None:
            log.info("ACL: %d policies from %s", len(self.policies), config.policies)
        self.metrics = Metrics(config.node_id)
        internal_key = derive_key(config.cluster_secret, "internal-http")
        self._verifier = Verifier(
            internal_key,
            old_keys=[derive_key(s, "internal-http") for s in config.cluster_old_secrets],
        )
        self.tls = (  # loads the files now: a bad one stops the start, not the first request
            NodeTls(config.tls_cert, config.tls_key, config.tls_ca)
            if config.tls_cert is not None and config.tls_key is not None
            else None
        )
        self.forwarder = (
            _forwarder(config, internal_key, self.tls, self.metrics)
            if config.cluster_mode
            else None
        )
        self.link_server = self._link_server() if config.cluster_mode else None
        self.tracing = tracing or tracing_from_config(config.node_id, config.otlp_endpoint)
        self.core = Core(
            node_id=config.node_id,
            systems=systems,
            store=_stores(config, keyring, systems),
            metrics=self.metrics,
            lease_s=config.lease,
            request_timeout=config.request_timeout,
            forwarder=self.forwarder,
            policies=self.policies,
            tracing=self.tracing,
        )
        self.remote = (
            HttpRemoteSystems(
                dict(config.remote_system),
                dict(config.remote_tokens),
                ssl=remote_context(config.tls_ca),
            )
            if config.remote_system
            else None
        )
        self.core.router.remote = self.remote
        self.membership = membership or self._membership()
        self.placement = Placement(
            config.node_id, self.core.router, self.core.runtime, self.metrics, config.vnodes
        )
        self.spawnproto = SpawnProtocol(self)  # actor hosts in other languages
        self.membership.subscribe(self.placement.on_view)
        self.membership.subscribe(lambda _view: self.core.warmup.poke())  # after the ring moved
        if self.forwarder is not None:
            self.core.runtime.broadcaster = self._broadcast
        self.placement.on_view(self.membership.view)
        self.ready = False
        self.draining = False
        self.inflight = 0
        self.drain_arrivals = 0  # calls that reached this node while it drained
        self._idle = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: HttpServer | None = None
        self._probes: ProbeServer | None = None
        self._probe_state: ProbeState | None = None
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self.started_at = time.time()
        self.metrics.gauge("roost_ready", lambda: [((), 1.0 if self.ready else 0.0)])
        self.metrics.gauge("roost_draining", lambda: [((), 1.0 if self.draining else 0.0)])
        self.metrics.gauge("roost_inflight_invocations", lambda: [((), float(self.inflight))])
        self.metrics.gauge(  # 0 without a supervised agent (single node, or attached to one)
            "roost_serf_agent_restarts",
            lambda: [((), float(getattr(self.membership, "restarts", 0)))],
        )

    def _link_server(self) -> LinkServer | None:
        """The peer link's listener, bound now: its port goes into the gossip tags."""
        where = self.config.link_host_port
        if where is None:
            return None
        server = LinkServer(
            self,
            self.config.node_id,
            self._verifier,
            bind(*where),
            max_body=self.config.max_body,
            ssl=None if self.tls is None else self.tls.server,
            mutual=self.tls is not None and self.tls.mutual,
            metrics=self.metrics,
        )
        self._tags += ((LINK_TAG, self.config.link_tag(server.port)),)
        return server

    def _membership(self) -> Membership:
        cfg = self.config
        if not cfg.cluster_mode:
            return LocalMembership(
                cfg.node_id, cfg.advertise_http, cfg.gossip, tags=dict(self._tags)
            )
        from roost.membership.serf import SerfMembership
        from roost.membership.settings import SerfSettings

        membership = SerfMembership(
            SerfSettings(
                node_id=cfg.node_id,
                gossip_bind=cfg.gossip,
                gossip_advertise=None,
                http_advertise=cfg.advertise_http,
                tags=self._tags,
                seeds=cfg.seeds,
                secret=cfg.cluster_secret,
                old_secrets=cfg.cluster_old_secrets,
                insecure=cfg.insecure,
                serf_bin=cfg.serf_bin,
                serf_rpc=cfg.serf_rpc,
                join_timeout=cfg.join_timeout,
                log_level="debug" if cfg.log_level == "debug" else "info",
            )
        )
        return membership

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        host, port = cfg.http_host_port
        self._start_probes()
        self._http = HttpServer(
            self.http_api().routes(),
            max_body=cfg.max_body,
            auth=self.api_auth,
            mutual_tls=self.tls is not None and self.tls.mutual,
            stamp=self._ring_header,
        )
        try:
            await self._http.start(
                host, port, ssl_context=None if self.tls is None else self.tls.server
            )
        except OSError as exc:
            self._http = None
            raise ConfigError(f"cannot listen on {cfg.http}: {exc.strerror or exc}") from exc
        log.info(
            "node %s: %s on %s, statestore %s, systems %s",
            cfg.node_id,
            "HTTP" if self.tls is None else "HTTPS",
            cfg.http,
            redact(cfg.statestore),
            ", ".join(cfg.systems),
        )
        if self.link_server is not None:
            await self.link_server.start()
        await self.core.start()
        await self.spawnproto.start()
        self.background(self.placement.run(), "placement")
        if self.tls is not None:
            self.background(self.tls.watch(), "tls reload")  # renewed certificates, in place
        await self.membership.start()
        await self.membership.set_status(MemberStatus.ACTIVE)
        self.core.start_loops()
        local.register(local.ANY, self)  # `roost.invoke` inside this process goes through us
        self.ready = True
        if self._probe_state is not None:  # the probe port says ready now, not a tick later
            await refresh(self._probe_state, self.check_ready)
        log.info("node %s ready", cfg.node_id)

    def _start_probes(self) -> None:
        where = self.config.probe_host_port
        if where is None:
            return
        state = self._probe_state = ProbeState(self.config.node_id)
        try:
            self._probes = ProbeServer(state, *where)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {where[0]}:{where[1]} for probes: {exc.strerror or exc}"
            ) from exc
        self._probes.start()
        self.background(publish(state, self.check_ready), "probe state")
        log.info("probes (/healthz, /readyz) on %s:%d", where[0], self._probes.port)

    def http_api(self) -> HttpApi:
        """The HTTP API of this node, with the routes of its other parts."""
        status = StatusApi(self)

        def extra(r: Routes) -> None:
            status.add_routes(r)  # the cluster page and its JSON
            self.spawnproto.add_internal_routes(r)

        return HttpApi(self, extra)

    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT, drain, and return the process exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
        try:
            await self.start()
        except BaseException:
            await self._teardown()
            raise
        await self._stop.wait()
        return await self.drain()

    def _on_signal(self, sig: int) -> None:
        if self._stop.is_set():
            log.warning("second %s: forcing exit after a final flush", signal.Signals(sig).name)
            self._force.set()
        else:
            log.info(
                "%s: draining (up to %.0fs)", signal.Signals(sig).name, self.config.drain_timeout
            )
            self._stop.set()

    def stop(self) -> None:
        """Ask `run` to drain and return (for embedding and tests)."""
        self._stop.set()

    async def drain(self) -> int:
        t0 = time.monotonic()
        drain = asyncio.ensure_future(self._drain())
        force = asyncio.ensure_future(self._force.wait())
        done, _ = await asyncio.wait(
            {drain, force}, timeout=self.config.drain_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        force.cancel()
        code = 0
        if drain not in done:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await _logged("drain", drain)
            log.error(
                "drain did not finish in time: final flush attempt "
                "(%d calls in flight, %d arrived while draining)",
                self.inflight, self.drain_arrivals,
            )  # fmt: skip
            lost = await self.core.runtime.emergency_flush()
            await self._abandon_requests()
            # a turn that ended (and answered) between that flush and the abandon is dirty
            # again: flush once more, so nothing acknowledged is left behind
            lost = max(lost, await self.core.runtime.emergency_flush())
            code = 0 if lost == 0 else 1
        elif drain.exception() is not None:
            log.error("drain failed: %s", drain.exception())
            code = 1
        await self._teardown()
        log.info(
            "node %s stopped in %.2fs (exit %d)", self.config.node_id, time.monotonic() - t0, code
        )
        return code

    async def _drain(self) -> None:
        self.ready = False
        self.draining = True
        if self._probe_state is not None:
            self._probe_state.ready, self._probe_state.why = False, "node is draining"
        self.placement.leave()  # this node owns nothing now: calls here go on to the new owners
        await _logged(
            "gossip of status draining", self.membership.set_status(MemberStatus.DRAINING)
        )
        t0, acts = time.perf_counter(), list(self.core.runtime.active.values())
        self.core.stop_loops()
        n = await self.core.runtime.flush_all("drain")
        self.metrics.handed_off(
            [(a.key.system, a.type.name) for a in acts if a.closed_reason == "drain"],
            time.perf_counter() - t0,
        )
        t1 = time.perf_counter()
        log.info(
            "drain: handed off %d activations in %.2fs (%d more by a rebalance meanwhile); "
            "%d calls in flight, %d arrived since SIGTERM",
            n, t1 - t0, sum(a.closed_reason == "handoff" for a in acts), self.inflight,
            self.drain_arrivals,
        )  # fmt: skip
        # Peers route around us by now; stop taking connections (callers that are refused a
        # connection retry elsewhere safely) and let the calls already here finish. A client
        # with an open connection can still send one more call on it: it is served (sent on to
        # the actor's new owner), and from now on every answer closes its connection, so the
        # calls still to come are bounded by the connections open, whatever the load. Not
        # earlier: clients told to reconnect during the handoff would reconnect here, into the
        # listener's backlog, which the kernel resets when the listener closes (their calls
        # lost with an unknown outcome). Idle connections are not cut here either, for the same
        # reason (a call may be on its way on one); they close at teardown, after `serf leave`.
        if self._http is not None:
            await self._http.stop_listening()  # and every answer from now on closes (closing)
        await self.spawnproto.stop_listening()
        if self.link_server is not None:
            self.link_server.stop_listening()
        at_stop = self.drain_arrivals
        while self.inflight:
            self._idle.clear()
            await self._idle.wait()
        log.info(
            "drain: in-flight calls done in %.2fs; %d calls arrived after the listener closed",
            time.perf_counter() - t1, self.drain_arrivals - at_stop,
        )  # fmt: skip
        await _logged("serf leave", self.membership.leave())

    async def _abandon_requests(self) -> None:
        """A forced stop does not wait for the calls still running (the HTTP server would give
        each hung handler its shutdown timeout twice, 10 s, past `--drain-timeout`): cancel them
        now. An interrupted action is rolled back, a write under way still completes, and the
        caller sees the connection close (outcome unknown), as with any cancelled call."""
        if self.link_server is not None:
            self.link_server.abandon()
        if self._http is not None:
            await self._http.shutdown(ABANDON_WAIT)

    async def _teardown(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await _logged(f"task {t.get_name()}", t)
        if self._http is not None:
            await _logged("HTTP server close", self._http.close())
        if self._probes is not None:
            self._probes.close()
        if self.link_server is not None:
            await _logged("peer link close", self.link_server.close())
        await _logged("Spawn protocol port close", self.spawnproto.close())
        await _logged("core stop (loops, statestore)", self.core.stop())
        await _logged("membership stop (serf agent)", self.membership.stop())
        if self.forwarder is not None:
            await self.forwarder.close()
        if self.remote is not None:
            await self.remote.close()
        await asyncio.to_thread(self.tracing.shutdown)  # export the spans still queued
        local.unregister(local.ANY, self)

    # --- used by the HTTP API -------------------------------------------------------------------

    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        timeout: float | None = None,
        hops: int = 0,
        dedupe: str | None = None,
        admitted: bool = False,
    ) -> Any:
        """An invocation from the network: counted in flight (refused with 429 at once past
        `--max-inflight`, unless `admitted` already, as an async call answered 202 was), and
        bounded by its deadline: past it the call is cancelled and answered 504 (an action
        interrupted is rolled back; a write already under way completes, so the outcome is
        unknown to the caller)."""
        if not self.ready and not self.draining:
            raise Unavailable("node is starting", retry_after=RETRY_AFTER)
        if not admitted:
            self.admit(system, actor, action, parent)
        budget = self.config.request_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = _Deadline(asyncio.current_task())
        # call_at, not asyncio.timeout: the same cancellation for about half the cost per call
        handle = loop.call_at(loop.time() + budget + DEADLINE_GRACE, deadline.expire)
        self.inflight += 1
        if self.draining:
            self.drain_arrivals += 1
        try:
            return await self.core.invoke(
                actor,
                action,
                payload,
                system=system,
                parent=parent,
                metadata=metadata,
                caller=caller,
                timeout=budget,
                hops=hops,
                dedupe=dedupe,
            )
        except asyncio.CancelledError:
            if deadline.expired and deadline.task is not None and not deadline.task.uncancel():
                raise Timeout(
                    f"{system}/{actor}.{action} gave no reply within {budget:.3g}s "
                    "(its outcome is unknown: a write under way still completes)"
                ) from None
            raise  # the client went away, or the node is stopping
        finally:
            handle.cancel()
            self.inflight -= 1
            if not self.inflight:
                self._idle.set()

    def admit(self, system: str, actor: str, action: str, parent: str | None) -> None:
        """Refuse a call with `Overloaded` (429) when `--max-inflight` calls are already in flight
        here, and count it. Every call that reaches a node over the network counts, forwarded
        ones too: a call passed from A to B is one in flight on A and one on B, never two on one
        (calls between actors ride on the turn that made them and are not counted again)."""
        if self.inflight < self.config.max_inflight:
            full = self.core.runtime.full_mailbox(system, actor)
            if full is None:
                return
            # the actor's mailbox is full now: its 429 from the request's head, not its body
            s, t, a = invocation_labels(self.core.runtime.systems, system, actor, action, parent)
            self.metrics.bump(self.metrics.invocations, (s, t, a, "overloaded"))
            raise full
        s, t, a = invocation_labels(self.core.runtime.systems, system, actor, action, parent)
        m = self.metrics
        m.bump(m.shed, (s, t, "inflight"))
        m.bump(m.invocations, (s, t, a, "overloaded"))
        raise Overloaded(
            f"node {self.config.node_id} has {self.inflight} invocations in flight "
            f"(--max-inflight {self.config.max_inflight}); retry later",
            retry_after=RETRY_AFTER,
        )

    async def _broadcast(
        self,
        system: str,
        step: Broadcast,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        bid: str,
    ) -> None:
        """Deliver a broadcast here and on every other live member (their active subscribers).
        A member that cannot be reached misses it: delivery is best effort, never replayed."""
        body = {
            "channel": step.channel, "payload": step.payload, "action": step.action,
            "metadata": dict(metadata or {}), "id": bid,
            "caller": None if caller is None else [caller.name, caller.system, caller.parent],
        }  # fmt: skip
        await self.core.runtime.deliver_local(system, step, metadata, caller, bid)
        assert self.forwarder is not None
        peers = [
            m
            for m in self.membership.view.members.values()
            if m.alive and m.id != self.config.node_id
        ]
        results = await asyncio.gather(
            *(self.forwarder.broadcast(m, system, body, 5.0) for m in peers), return_exceptions=True
        )
        for m, r in zip(peers, results, strict=True):
            if isinstance(r, BaseException):
                self.metrics.bump(self.metrics.workflow_errors, ("broadcast",))
                log.warning("broadcast on %s did not reach %s: %s", step.channel, m.id, r)

    async def deliver_broadcast(
        self,
        system: str,
        step: Broadcast,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        bid: str,
    ) -> int:
        """A peer's broadcast, arrived over the peer link: this node's active subscribers."""
        return await self.core.runtime.deliver_local(system, step, metadata, caller, bid)

    @property
    def closing(self) -> bool:
        """Draining with the listener closed: every answer closes its connection (the front
        door's `draining`), so each open connection brings at most one more call."""
        return self._http is not None and self._http.draining

    @closing.setter
    def closing(self, value: bool) -> None:
        if self._http is not None:
            self._http.draining = value

    @property
    def advertise_http(self) -> str:
        return self.config.advertise_http

    @property
    def default_system(self) -> str:
        return self.config.system

    # --- the narrow views the network layers take (roost.node.surface) ---------------------

    @property
    def node_id(self) -> str:
        return self.config.node_id

    @property
    def max_body(self) -> int:
        return self.config.max_body

    def view(self) -> MemberView:
        return self.membership.view

    def ring(self) -> Ring:
        return self.core.router.ring

    def ring_version(self) -> str:
        return self.core.router.ring_version

    def _ring_header(self) -> str:
        """On every reply: the ring this node routed with, so an owner-aware client sees at once
        that its copy is stale."""
        return f"{RING_VERSION}: {self.core.router.ring_version}\r\n"

    def owner(self, system: str, actor: str) -> str | None:
        return self.core.router.owner(system, actor)

    def counts_by_type(self) -> Mapping[tuple[str, str], int]:
        return self.core.runtime.counts_by_type()

    def remote_urls(self) -> Mapping[str, str]:
        return self.remote.urls if self.remote is not None else {}

    def render_metrics(self) -> bytes:
        return self.metrics.render()

    def last_handoffs(self) -> list[dict[str, object]]:
        return self.placement.last_handoffs

    async def schedule(
        self,
        actor: str,
        action: str,
        payload: Any,
        *,
        system: str,
        parent: str | None,
        metadata: Mapping[str, str] | None,
        delay_ms: int | None,
        at_ms: int | None,
    ) -> str:
        return await self.core.schedule(
            actor, action, payload, system=system, parent=parent, metadata=metadata,
            delay_ms=delay_ms, at_ms=at_ms,
        )  # fmt: skip

    async def spawn(self, system: str, actor: str, parent: str) -> None:
        await self.core.spawn(system, actor, parent)

    @property
    def gossip_tags(self) -> dict[str, str]:
        """The tags this node publishes besides its status and address (its systems)."""
        return dict(self._tags)

    def check_invocable(self, system: str, actor: str, action: str, parent: str | None) -> None:
        """What can be checked without the store, before answering 202 to an async call (the
        HTTP API has admitted it already, before reading its body): the ACLs, then the action."""
        self.core.authorize(system, actor, action)
        t = self.core.runtime.resolve_static(system, actor, parent)
        if t is not None and not t.has_action(action):
            raise ActionNotFound(f"actor type {t.name!r} has no action {action!r}")

    async def check_ready(self) -> None:
        if self.draining:
            raise Unavailable("node is draining")
        if not self.ready:
            raise Unavailable("node is starting")
        try:
            async with asyncio.timeout(2.0):
                await self.core.store.ping()
        except (StoreUnavailable, TimeoutError) as exc:
            raise Unavailable(f"statestore does not answer: {exc}") from exc

    def verify_internal(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> None:
        self._verifier.verify(headers.get(HEADER), method, path, body, time.time())

    def background(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run `coro` as a task owned by the node: kept referenced, cancelled at teardown, and
        its failure logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("%s failed: %s", name, t.exception())

        task.add_done_callback(done)


async def _logged(what: str, step: Awaitable[object]) -> None:
    """One teardown step: a failure is logged and the teardown goes on with the next step."""
    try:
        await step
    except Exception as exc:
        log.warning("teardown: %s failed: %s: %s", what, type(exc).__name__, exc)


def _dump_tasks() -> None:
    """SIGUSR1: log every asyncio task's stack (where is a stuck drain waiting?)."""
    buf = io.StringIO()
    for task in asyncio.all_tasks():
        buf.write(f"--- {task.get_name()}\n")
        task.print_stack(limit=12, file=buf)
    log.warning("asyncio tasks on SIGUSR1:\n%s", buf.getvalue())


def _api_auth(cfg: NodeConfig) -> ApiAuth | None:
    if not cfg.api_tokens:
        if cfg.metrics_auth:
            raise ConfigError("--metrics-auth / ROOST_METRICS_AUTH needs ROOST_API_TOKENS")
        return None
    return ApiAuth(cfg.api_tokens, metrics_open=not cfg.metrics_auth)


def _forwarder(cfg: NodeConfig, key: bytes, tls: NodeTls | None, metrics: Metrics) -> LinkForwarder:
    """Peers are called over their peer link (HTTP for one that has none), with TLS verified
    against `--tls-ca` when this node has a certificate (every node of a cluster shares one TLS
    setting), else in the clear."""
    http = HttpForwarder(key) if tls is None else HttpForwarder(key, scheme="https", ssl=tls.peer)
    return LinkForwarder(
        cfg.node_id,
        key,
        http,
        ssl=None if tls is None else tls.peer,
        max_body=cfg.max_body,
        metrics=metrics,
    )


def _stores(
    cfg: NodeConfig, keyring: Keyring, systems: Mapping[str, SystemTypes]
) -> EncryptedStore | RoutedStore:
    """The default statestore, plus one per system that names its own (`--system-statestore`),
    each sealed with that system's key from ROOST_SYSTEM_KEYS (else the default key)."""
    default = EncryptedStore(open_backend(cfg.statestore), keyring)
    if not cfg.system_statestore:
        return default
    keys = dict(cfg.system_keys)
    by_system: dict[str, StateStore] = {}
    for name, url in cfg.system_statestore:
        if name not in systems:
            raise ConfigError(f"--system-statestore names {name!r}, which this node does not host")
        ring = Keyring.from_text(keys[name], cfg.statestore_old_keys) if name in keys else keyring
        by_system[name] = EncryptedStore(open_backend(url), ring)
    unknown = set(keys) - set(by_system)
    if unknown:
        raise ConfigError(
            f"ROOST_SYSTEM_KEYS names {sorted(unknown)} without a statestore of its own"
        )
    return RoutedStore(default, by_system)


class _Deadline:
    """Cancels a task when its invocation's deadline passes, and remembers that it did."""

    __slots__ = ("expired", "task")

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.expired = False

    def expire(self) -> None:
        if self.task is not None and not self.task.done():
            self.expired = True
            self.task.cancel()
