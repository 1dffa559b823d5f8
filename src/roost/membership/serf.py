"""`SerfMembership`: the `Membership` protocol on a Serf agent (ours, or a sidecar's).

Start-up: check the secret, launch and supervise `serf agent` (or attach to ``serf_rpc``),
connect and authenticate over RPC, subscribe to member events, load the member list, then join
the seeds with backoff until ``join_timeout``. A node whose seeds name only itself (or that
finds no other node over mDNS) starts alone at once; one whose seeds do not answer starts alone
after the timeout. After start, seeds are re-resolved every ``rejoin_interval`` and unknown ones
joined, so two halves that both started alone merge.

The view is driven by member events and by a full member-list fetch each
``reconcile_interval``: the Serf agent coalesces member events (1 s quiet, 3 s max, not
configurable), so the fetch bounds how stale the view can be, and it repairs anything missed
around a reconnect.

Concurrency: everything runs on one event loop. Call `start` once, `set_status` and `leave`
from any task, `stop` once (idempotent). Listeners run synchronously on the loop, in version
order, never concurrently; they must not block. The background tasks (agent supervision, event
pump, reconcile, rejoin) live in one `TaskGroup` inside a main task that `stop` cancels.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import shutil
import tempfile
from pathlib import Path

from roost.errors import ConfigError
from roost.membership.agent import SerfAgent
from roost.membership.base import (
    PROTOCOL_VERSION,
    LocalMembership,
    Member,
    Membership,
    MemberStatus,
    MemberView,
    ViewListener,
)
from roost.membership.clock import Backoff, Clock, SystemClock, wait_event
from roost.membership.discovery import Discovery, parse_seeds, plan_join, system_resolver
from roost.membership.dnsclient import Resolver, nameserver_resolver
from roost.membership.errors import SerfConnectionError, SerfError, first_error
from roost.membership.keys import gossip_keyring, rpc_token
from roost.membership.mdns import MdnsDiscovery
from roost.membership.protocol import MEMBER_EVENTS, MemberEvent, SerfEvent
from roost.membership.rpc import SerfRPC, Subscription, connect_with_backoff
from roost.membership.settings import (
    DEFAULT_GOSSIP_PORT,
    SerfSettings,
    check_security,
    join_hostport,
    parse_hostport,
)
from roost.membership.view import TAG_HTTP, TAG_PROTO, TAG_STATUS, MemberTable, ViewPublisher

log = logging.getLogger("roost.membership")
_EVENT_FILTER = ",".join(sorted(MEMBER_EVENTS))
_PUBLISHABLE = (MemberStatus.JOINING, MemberStatus.ACTIVE, MemberStatus.DRAINING)


class SerfMembership:
    """Cluster membership through Serf. See the module docstring for the life cycle."""

    def __init__(
        self,
        settings: SerfSettings,
        *,
        clock: Clock | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        seeds = parse_seeds(settings.seeds) if settings.seeds else ()
        if resolver is None:
            resolver = (
                nameserver_resolver(settings.dns_server) if settings.dns_server else system_resolver
            )
        self._mdns = (
            MdnsDiscovery(
                settings.node_id,
                interfaces=settings.mdns_interfaces,
                browse_time=settings.mdns_browse_time,
            )
            if any(s.kind == "mdns" for s in seeds)
            else None
        )
        self._discovery = Discovery(seeds, resolver, self._mdns)
        self._tags = {
            **dict(settings.tags),
            TAG_HTTP: settings.http_advertise,
            TAG_STATUS: MemberStatus.JOINING.value,
            TAG_PROTO: str(PROTOCOL_VERSION),
        }
        me = Member(
            settings.node_id,
            settings.http_advertise,
            settings.gossip_advertise or settings.gossip_bind,
            MemberStatus.JOINING,
            tags=dict(self._tags),
        )
        self._table = MemberTable([me])
        self._publisher = ViewPublisher()
        self._agent: SerfAgent | None = None
        self._client: SerfRPC | None = None
        self._stream: Subscription[SerfEvent] | None = None
        self._started = False
        self._main: asyncio.Task[None] | None = None
        self._refresh = asyncio.Event()
        self._rejoin_now = asyncio.Event()
        self._temp_dir: Path | None = None
        secret = settings.secret
        # Without a secret (--insecure) our own agent's RPC still gets a random token; an
        # attached agent is asked for the secret's token, or none.
        if secret:
            self._token: str | None = rpc_token(secret)
        else:
            self._token = secrets.token_urlsafe(32) if settings.serf_rpc is None else None
        self._leaving = False
        self._stopping = False

    # -- the Membership protocol --------------------------------------------------------------

    @property
    def view(self) -> MemberView:
        return self._table.view

    def subscribe(self, listener: ViewListener) -> None:
        self._publisher.subscribe(listener)

    async def start(self) -> None:
        if self._main is not None:
            raise RuntimeError("SerfMembership.start() called twice")
        check_security(self.settings)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._main = asyncio.create_task(self._run(ready), name=f"membership-{self.node_id}")
        self._main.add_done_callback(self._main_done)
        try:
            await asyncio.wait({ready, self._main}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self.stop()
            raise
        if not ready.done():
            error = self._main.exception() if not self._main.cancelled() else None
            await self.stop()
            raise first_error(error) if error else RuntimeError("membership stopped")

    async def set_status(self, status: MemberStatus) -> None:
        if status not in _PUBLISHABLE:
            raise ValueError(f"cannot publish status {status}: use leave() to leave")
        self._tags[TAG_STATUS] = status.value
        if self._main is None:
            return  # not started: the agent is launched (or attached) with these tags
        client = self._client
        if client is None or client.closed:
            log.warning("serf agent unreachable: status %s goes out once it is back", status)
            return
        try:
            await client.set_tags({TAG_STATUS: status.value})
            await self._sync()
        except SerfConnectionError as exc:
            log.warning("status %s not yet published (%s); retrying after reconnect", status, exc)

    async def leave(self) -> None:
        if self._leaving or self._client is None:
            return
        self._leaving = True
        if self._agent is not None:
            self._agent.expect_exit()
        try:
            await self._client.leave()
        except SerfError as exc:
            log.warning("serf leave did not complete cleanly: %s", exc)
        me = self.view.get(self.node_id)
        if me is not None:
            self._publisher.publish(
                self._table.put(dataclasses.replace(me, status=MemberStatus.LEFT))
            )

    async def stop(self) -> None:
        self._stopping = True
        if self._mdns is not None:
            await self._mdns.close()
        if self._main is not None and not self._main.done():
            self._main.cancel()
            await asyncio.wait({self._main})  # unlike `await task`, keeps our own cancellation
        if self._agent is not None:
            await self._agent.stop()
        if self._client is not None:
            await self._client.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    # -- extras for the node ------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    @property
    def restarts(self) -> int:
        """How often our serf agent died and was relaunched (a metric; 0 when attached)."""
        return self._agent.restarts if self._agent is not None else 0

    @property
    def connected(self) -> bool:
        """True while the RPC connection to the agent is up (readiness can use it)."""
        return self._client is not None and not self._client.closed

    @property
    def agent(self) -> SerfAgent | None:
        """The supervised agent, when we run our own (None when attached)."""
        return self._agent

    @property
    def client(self) -> SerfRPC | None:
        """The current RPC client: user events, queries, keyring commands."""
        return self._client

    # -- background work ----------------------------------------------------------------------

    async def _run(self, ready: asyncio.Future[None]) -> None:
        async with asyncio.TaskGroup() as tg:
            if self.settings.serf_rpc is None:
                self._agent = self._make_agent()
                await self._agent.start()
                tg.create_task(self._agent.supervise(), name="serf-agent-supervisor")
            deadline = self._clock.monotonic() + self.settings.agent_start_timeout
            await self._connect(deadline)
            tg.create_task(self._pump(), name="membership-pump")
            tg.create_task(self._reconcile_loop(), name="membership-reconcile")
            if self._mdns is not None:
                me = self.view.get(self.node_id)
                gossip = me.gossip if me else self.settings.gossip_bind
                host, port = parse_hostport(gossip, DEFAULT_GOSSIP_PORT)
                await self._mdns.start(host, port, self.settings.http_advertise)
            await self._join_initial()
            self._started = True
            ready.set_result(None)
            tg.create_task(self._rejoin_loop(), name="membership-rejoin")

    def _make_agent(self) -> SerfAgent:
        if self.settings.work_dir:
            work_dir = Path(self.settings.work_dir)
        else:
            self._temp_dir = work_dir = Path(tempfile.mkdtemp(prefix=f"roost-serf-{self.node_id}-"))
        secret = self.settings.secret
        return SerfAgent(
            self.settings,
            work_dir,
            rpc_token=self._token or "",
            keys=gossip_keyring(secret, self.settings.old_secrets) if secret else [],
            tags=lambda: dict(self._tags),
            clock=self._clock,
        )

    async def _connect(self, deadline: float | None) -> None:
        addr = self._agent.rpc_addr if self._agent is not None else self.settings.serf_rpc
        assert addr is not None
        client = await connect_with_backoff(addr, self._token, deadline=deadline, clock=self._clock)
        try:
            if self._agent is None:
                name = (await client.stats()).agent_name
                if name != self.node_id:
                    raise ConfigError(
                        f"the serf agent at {addr} is named {name!r}, but this node's id is "
                        f"{self.node_id!r}; give both the same name"
                    )
            stream = await client.stream(_EVENT_FILTER)
        except BaseException:
            await client.close()
            raise
        self._client, self._stream = client, stream
        await self._sync()
        me = self.view.get(self.node_id)
        if me is None or any(me.tags.get(k) != v for k, v in self._tags.items()):
            await client.set_tags(self._tags)
            await self._sync()

    async def _sync(self) -> None:
        assert self._client is not None
        self._publisher.publish(self._table.sync(await self._client.members()))

    async def _pump(self) -> None:
        while True:
            stream = self._stream
            assert stream is not None
            reason: object = "stream ended"
            try:
                async for event in stream:
                    if isinstance(event, MemberEvent):
                        self._publisher.publish(self._table.apply(event))
                        self._refresh.set()
            except SerfError as exc:
                reason = exc
            if self._leaving or self._stopping:
                return
            log.warning("lost the serf agent's RPC connection (%s); reconnecting", reason)
            await self._reconnect()

    async def _reconnect(self) -> None:
        if self._client is not None:
            await self._client.close()
        backoff = Backoff(initial=0.1, cap=2.0)
        while True:
            try:
                await self._connect(deadline=self._clock.monotonic())
                break
            except (SerfError, ConfigError) as exc:
                log.debug("serf RPC reconnect failed: %s", exc)
            await self._clock.sleep(backoff.next())
        log.info("reconnected to the serf agent")
        self._rejoin_now.set()

    async def _reconcile_loop(self) -> None:
        while True:
            await wait_event(self._refresh, self.settings.reconcile_interval, self._clock)
            self._refresh.clear()
            if self.connected and not self._leaving:
                with contextlib.suppress(SerfError):
                    await self._sync()

    async def _join_initial(self) -> None:
        deadline = self._clock.monotonic() + self.settings.join_timeout
        backoff = Backoff(initial=0.2, cap=5.0)
        attempts = 0
        while True:
            attempts += 1
            outcome = await self._join_once(quiet=attempts > 1)
            if outcome is not None:
                return
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                log.warning(
                    "joined no seed within %gs (%d attempts); running alone and retrying every %gs",
                    self.settings.join_timeout,
                    attempts,
                    self.settings.rejoin_interval,
                )
                return
            await self._clock.sleep(min(backoff.next(), remaining))

    async def _join_once(self, *, quiet: bool) -> bool | None:
        """True: joined; False: we are the first node; None: try again later."""
        if not self._discovery.seeds:
            return False
        resolution = await self._discovery.resolve()
        plan = plan_join(resolution, self._self_addrs())
        if plan.alone:
            log.info("seeds name only this node: starting a new cluster")
            return False
        level = logging.DEBUG if quiet else logging.WARNING
        if not plan.targets:
            log.log(level, "no seed answered yet: %s", "; ".join(resolution.unanswered))
            return None
        assert self._client is not None
        try:
            joined = await self._client.join(plan.targets)
        except SerfError as exc:
            log.log(level, "join via %s failed: %s", ", ".join(plan.targets), exc)
            return None
        log.info("joined the cluster via %d of %s", joined, ", ".join(plan.targets))
        with contextlib.suppress(SerfError):  # the reconcile loop catches up otherwise
            await self._sync()
        return True

    async def _rejoin_loop(self) -> None:
        while True:
            await wait_event(self._rejoin_now, self.settings.rejoin_interval, self._clock)
            self._rejoin_now.clear()
            if not self.connected or self._leaving or not self._discovery.seeds:
                continue
            known = {m.gossip for m in self.view.members.values() if m.alive}
            try:
                resolution = await self._discovery.resolve()
                targets = [
                    a for a in plan_join(resolution, self._self_addrs()).targets if a not in known
                ]
                if targets and self._client is not None:
                    joined = await self._client.join(targets)
                    log.info("rejoin: reached %d of %s", joined, ", ".join(targets))
            except (SerfError, OSError) as exc:
                log.debug("rejoin attempt failed: %s", exc)

    def _self_addrs(self) -> set[str]:
        addrs = set()
        me = self.view.get(self.node_id)
        if me is not None and me.gossip:
            addrs.add(me.gossip)
        host, port = parse_hostport(self.settings.gossip_bind, DEFAULT_GOSSIP_PORT)
        if host in ("0.0.0.0", "::"):
            addrs.add(join_hostport("127.0.0.1", port))
        else:
            addrs.add(join_hostport(host, port))
        if self.settings.gossip_advertise:
            addrs.add(self.settings.gossip_advertise)
        return addrs

    def _main_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping or not self._started:
            return  # a failure before start() returned is raised by start() itself
        error = task.exception()
        if error is not None:
            log.error("membership stopped working: %r", first_error(error))


def create_membership(settings: SerfSettings) -> Membership:
    """Serf membership in cluster mode (seeds given), a cluster of one without seeds."""
    if not settings.seeds:
        return LocalMembership(settings.node_id, settings.http_advertise)
    return SerfMembership(settings)
