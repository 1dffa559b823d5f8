"""mDNS discovery with zeroconf: advertise ``<node>._roost._tcp.local.`` and browse for others.

Each node registers a service whose address and port are its gossip address, with TXT
properties ``node`` (id) and ``http``. Browsing collects service names as they appear; `peers`
resolves each to its gossip address. Meant for a laptop LAN: multicast does not cross subnets.

Concurrency: `start` and `close` are called by the owner; `peers` by one task at a time.
Zeroconf calls the browse handler on the event loop, so no locking is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from roost.membership.errors import SerfError
from roost.membership.settings import join_hostport

log = logging.getLogger("roost.membership.mdns")

SERVICE_TYPE = "_roost._tcp.local."
_RESOLVE_MS = 1000


class MdnsDiscovery:
    """Advertises this node and finds the others on the local network."""

    def __init__(
        self,
        node_id: str,
        *,
        interfaces: Sequence[str] | None = None,
        browse_time: float = 1.5,
    ) -> None:
        self.node_id = node_id
        self._interfaces = list(interfaces) if interfaces else None
        self._browse_time = browse_time
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._names: set[str] = set()
        self._started_at = 0.0
        self._register_task: asyncio.Task[None] | None = None

    @property
    def service_name(self) -> str:
        return f"{self.node_id}.{SERVICE_TYPE}"

    async def start(self, gossip_host: str, gossip_port: int, http: str = "") -> None:
        """Advertise `gossip_host:gossip_port` (an IPv4 address) and start browsing."""
        try:
            packed = socket.inet_aton(gossip_host)
        except OSError as exc:
            raise SerfError(f"mDNS needs an IPv4 gossip address, not {gossip_host!r}") from exc
        interfaces = self._interfaces if self._interfaces is not None else "all"
        try:
            self._zc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
            self._info = AsyncServiceInfo(
                SERVICE_TYPE,
                self.service_name,
                addresses=[packed],
                port=gossip_port,
                properties={"node": self.node_id, "http": http},
                server=f"{self.node_id}.roost.local.",
            )
            # Registration probes the name for ~1 s before announcing; browse meanwhile.
            self._register_task = asyncio.create_task(self._register(), name="mdns-register")
            self._browser = AsyncServiceBrowser(
                self._zc.zeroconf, SERVICE_TYPE, handlers=[self._on_change]
            )
        except OSError as exc:
            await self.close()
            raise SerfError(f"mDNS could not start: {exc}") from exc
        self._started_at = asyncio.get_running_loop().time()
        log.info(
            "mDNS: advertising %s at %s", self.service_name, join_hostport(gossip_host, gossip_port)
        )

    async def _register(self) -> None:
        assert self._zc is not None and self._info is not None
        try:
            announced = await self._zc.async_register_service(self._info)
            await announced
        except Exception as exc:  # a name clash or a socket error: peers can still find us
            log.warning("mDNS: could not advertise %s: %s", self.service_name, exc)

    def _on_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if name == self.service_name:
            return
        if state_change is ServiceStateChange.Removed:
            self._names.discard(name)
        else:
            self._names.add(name)

    async def peers(self) -> Sequence[str]:
        if self._zc is None:
            return []
        # The first browse needs a moment for answers to arrive; later calls reuse what came.
        wait = self._started_at + self._browse_time - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        found: list[str] = []
        for name in sorted(self._names):
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            try:
                if not await info.async_request(self._zc.zeroconf, _RESOLVE_MS):
                    continue
            except Exception as exc:  # zeroconf's own errors: skip this peer, not the attempt
                log.debug("mDNS: cannot resolve %s: %s", name, exc)
                continue
            if info.port:
                found.extend(join_hostport(a, info.port) for a in info.parsed_addresses())
        return found

    async def close(self) -> None:
        if self._register_task is not None:
            self._register_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._register_task
            self._register_task = None
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._zc is not None:
            if self._info is not None:
                try:
                    await self._zc.async_unregister_service(self._info)
                except Exception as exc:  # best effort: we are shutting down anyway
                    log.debug("mDNS unregister failed: %s", exc)
            await self._zc.async_close()
            self._zc = None
