"""A simulated Roost cluster: real runtimes, routers and placement on a fake network and a fake
gossip layer, sharing one in-memory statestore, all on the virtual clock of `vloop`.

What is real: `Runtime`, `Router`, `Placement`, `MemoryStore`, the lease and fencing logic.
What is simulated: the network between nodes (latency, partitions, crashes), Serf (views converge
after a gossip tick; an unreachable member is declared failed after `DETECT_S`), and clients.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson

from roost import Actor, Context, Value, action
from roost.errors import Timeout
from roost.membership.base import Member, MemberStatus, MemberView, ViewListener
from roost.metrics import Metrics
from roost.placement.placement import Placement
from roost.placement.ring import HASH_NAME, RING_TAG
from roost.placement.router import HOP_LIMIT, Router, Unreachable
from roost.runtime.driver import drive
from roost.runtime.host import Runtime
from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActorType
from roost.sdk.context import ActorId
from roost.statestore.base import ActorKey, Row, ScannedRow, WriteItem
from roost.statestore.memory import MemoryStore

SYS = "sim"
GOSSIP_TICK = 0.5  # how often a simulated agent pulls the truth (Serf: ~1 s member poll)
DETECT_S = 5.0  # an unreachable member is declared failed after this (Serf LAN: ~5-7 s)
LEASE_S = 10.0
REQUEST_TIMEOUT = 15.0


class Ledger(Actor):
    """Sync actor whose state is the list of applied operation ids: a lost or duplicated
    acknowledged update shows up exactly."""

    name = "ledger"
    kind = "unnamed"
    durability = "sync"

    @action
    async def apply(self, payload: dict[str, Any], ctx: Context) -> Value:
        ops = [*(ctx.state or {}).get("ops", []), payload["op"]]
        return Value().state({"ops": ops}).response(len(ops))


class RecordingStore:
    """The shared store as seen by one node, with a database's round-trip latency (so calls
    interleave as they would); records which activation wrote each revision."""

    def __init__(self, inner: MemoryStore, node: str, log: WriteLog, rng: random.Random) -> None:
        self.inner, self.node, self.log, self.rng = inner, node, log, rng

    async def _rtt(self) -> None:
        await asyncio.sleep(self.rng.uniform(0.0002, 0.002))

    async def migrate(self) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...

    async def acquire(
        self,
        key: ActorKey,
        node_id: str,
        lease_s: float,
        *,
        parent: str | None = None,
        steal_from: Collection[str] = (),
    ) -> Row:
        await self._rtt()
        row = await self.inner.acquire(key, node_id, lease_s, parent=parent, steal_from=steal_from)
        self.log.generation[(self.node, key)] = self.log.generation.get((self.node, key), 0) + 1
        return row

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        await self._rtt()
        revs = await self.inner.write(node_id, items, lease_s)
        for it, rev in zip(items, revs, strict=True):
            if rev is not None:
                gen = self.log.generation.get((self.node, it.key), 0)
                self.log.record(it.key, rev, self.node, gen)
        return revs

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        await self._rtt()
        return await self.inner.renew(node_id, keys, lease_s)

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        await self._rtt()
        await self.inner.release(node_id, keys)

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        await self._rtt()
        await self.inner.delete(node_id, keys)

    async def read(self, key: ActorKey) -> Row | None:
        await self._rtt()
        return await self.inner.read(key)

    async def register(self, key: ActorKey, parent: str) -> None:
        await self.inner.register(key, parent)

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        return await self.inner.scan(after, limit)

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        return await self.inner.rewrite(key, revision, old, new)


class SingleWriter:
    """The single-writer invariant, checked one write at a time: the successful writes of an
    actor, in revision order, come from one activation (node, generation) at a time; an
    activation never writes again once another one has."""

    def __init__(self) -> None:
        self._last: dict[ActorKey, tuple[int, tuple[str, int]]] = {}  # key -> (rev, writer)
        self._done: dict[ActorKey, set[tuple[str, int]]] = {}  # writers that were superseded

    def add(self, key: ActorKey, rev: int, node: str, gen: int) -> str | None:
        """Take the next write of `key` (revisions ascending); a violation, or None."""
        who = (node, gen)
        last = self._last.get(key)
        self._last[key] = (rev, who)
        if last is None:
            return None
        last_rev, prev = last
        if rev <= last_rev:
            return f"{key}: revision r{rev} by {who} after r{last_rev} (not increasing)"
        if who == prev:
            return None
        done = self._done.setdefault(key, set())
        done.add(prev)
        if who in done:
            return f"{key}: activation {who} wrote again at r{rev} after another did"
        return None


@dataclass
class WriteLog:
    """Every successful write, checked for the single-writer invariant as it lands."""

    report: Callable[[str], None]
    generation: dict[tuple[str, ActorKey], int] = field(default_factory=dict)
    writes: dict[ActorKey, list[tuple[int, str, int]]] = field(default_factory=dict)
    checker: SingleWriter = field(default_factory=SingleWriter)

    def record(self, key: ActorKey, rev: int, node: str, gen: int) -> None:
        self.writes.setdefault(key, []).append((rev, node, gen))
        bad = self.checker.add(key, rev, node, gen)
        if bad is not None:
            self.report(bad)


class SimMembership:
    """One node's view, moved toward the cluster's truth by `Cluster.gossip_tick`."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._view = MemberView({}, 0)
        self._listeners: list[ViewListener] = []

    @property
    def view(self) -> MemberView:
        return self._view

    def subscribe(self, listener: ViewListener) -> None:
        self._listeners.append(listener)

    def deliver(self, members: Mapping[str, Member]) -> None:
        if dict(members) == dict(self._view.members):
            return
        self._view = MemberView(dict(members), self._view.version + 1)
        for listener in self._listeners:
            listener(self._view)


# Forwards nested on the current path: the delivered call's task inherits it from the sender's.
_DEPTH: ContextVar[int] = ContextVar("sim_forward_depth", default=0)


class SimForwarder:
    """Delivers a call to the target's router, with latency, partitions and crashes; reports a
    path that nests more than `HOP_LIMIT` forwards (a forwarding loop) when it happens."""

    def __init__(self, cluster: Cluster, src: str) -> None:
        self.cluster, self.src = cluster, src

    async def forward(
        self,
        member: Member,
        system: str,
        actor: str,
        action: str,
        payload: Any,
        *,
        parent: str | None,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        hops: int,
        timeout: float,
        dedupe: str | None = None,
    ) -> Any:
        c = self.cluster
        if not c.reachable(self.src, member.id):
            raise Unreachable(f"{self.src} cannot reach {member.id}")
        await asyncio.sleep(c.latency())
        dst = c.nodes.get(member.id)
        if dst is None or not c.reachable(self.src, member.id):
            raise Unreachable(f"{member.id} went away before the call was delivered")
        wire = orjson.loads(orjson.dumps(payload))
        depth = _DEPTH.get() + 1
        if depth > HOP_LIMIT or hops > HOP_LIMIT:
            c.violation(f"{system}/{actor}: forward {self.src}->{member.id} nests {depth} deep")
        token = _DEPTH.set(depth)
        try:
            task = dst.spawn(
                dst.router.invoke(
                    actor, action, wire, system=system, parent=parent, metadata=metadata,
                    caller=caller, hops=hops, timeout=timeout, dedupe=dedupe,
                )
            )  # fmt: skip
        finally:
            _DEPTH.reset(token)
        try:
            async with asyncio.timeout(timeout + 1.0):
                result = await asyncio.shield(task)
        except (asyncio.CancelledError, TimeoutError):
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise
            raise Timeout("delivered, then the owner died or went silent") from None
        await asyncio.sleep(c.latency())
        if not c.reachable(self.src, member.id):
            raise Timeout("delivered, then the reply was lost in a partition")
        return orjson.loads(orjson.dumps(result))


class SimNode:
    def __init__(self, cluster: Cluster, node_id: str) -> None:
        self.id = node_id
        self.cluster = cluster
        # insertion-ordered (a set would iterate in address order: nondeterministic)
        self.tasks: dict[asyncio.Task[Any], None] = {}
        self.membership = SimMembership(node_id)
        types = SystemTypes.build(SYS, [ActorType.from_class(Ledger)])
        self.runtime = Runtime(
            node_id=node_id,
            store=RecordingStore(cluster.store, node_id, cluster.log, cluster.rng),
            systems={SYS: types},
            metrics=Metrics(node_id, process=False),
            clock=asyncio.get_running_loop().time,
            lease_s=LEASE_S,
        )
        self.router = Router(
            node_id,
            self.runtime,
            forwarder=SimForwarder(cluster, node_id),
            request_timeout=REQUEST_TIMEOUT,
            clock=asyncio.get_running_loop().time,
        )
        self.runtime.invoker = self.router
        self.placement = Placement(node_id, self.router, self.runtime, self.runtime.metrics, 64)
        self.membership.subscribe(self.placement.on_view)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks[task] = None
        task.add_done_callback(lambda t: self.tasks.pop(t, None))
        return task

    def start(self) -> None:
        self.spawn(drive(self.runtime))
        self.spawn(self.placement.run())

    async def drain(self) -> None:
        self.cluster.status[self.id] = MemberStatus.DRAINING
        self.cluster.gossip_now(self.id)
        await self.runtime.flush_all("drain")
        self.cluster.status[self.id] = MemberStatus.LEFT
        self.cluster.gossip_now(self.id)

    def crash(self) -> None:
        for t in list(self.tasks):
            t.cancel()


class Cluster:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.store = MemoryStore(clock=asyncio.get_running_loop().time)
        self.violations: list[str] = []  # invariants broken, as they broke
        self.log = WriteLog(self.violation)
        self.nodes: dict[str, SimNode] = {}
        self.status: dict[str, MemberStatus] = {}  # the truth (crashed nodes: FAILED)
        self.groups: list[set[str]] = []  # partitions; empty = fully connected
        self.unreachable_since: dict[tuple[str, str], float] = {}
        self.incarnations = 0
        self.changed_at = 0.0  # the last change of membership or of the network

    def violation(self, what: str) -> None:
        if len(self.violations) < 20:  # the first ones tell the story
            self.violations.append(f"t={asyncio.get_running_loop().time():.2f} {what}")

    def changed(self) -> None:
        self.changed_at = asyncio.get_running_loop().time()

    def settled(self, after: float) -> bool:
        """Whether gossip has had `after` seconds, with the network whole, since the last change:
        every view must then agree with the truth."""
        return not self.groups and asyncio.get_running_loop().time() - self.changed_at >= after

    # --- the network -------------------------------------------------------------------------

    def latency(self) -> float:
        return self.rng.uniform(0.0005, 0.005)

    def alive(self, node_id: str) -> bool:
        return node_id in self.nodes

    def reachable(self, a: str, b: str) -> bool:
        if not (self.alive(a) and self.alive(b)):
            return False
        return not self.groups or any(a in g and b in g for g in self.groups)

    # --- membership ----------------------------------------------------------------------------

    def member(self, node_id: str, status: MemberStatus) -> Member:
        tags = {RING_TAG: HASH_NAME}  # a current node: it computes the SHA-256 ring
        return Member(node_id, f"{node_id}:8800", f"{node_id}:7946", status, tags=tags)

    def gossip_now(self, node_id: str) -> None:
        """A node's own status change reaches its own view at once (Serf tags are local)."""
        self.changed()
        self._deliver(node_id, asyncio.get_running_loop().time())

    def gossip_tick(self) -> None:
        now = asyncio.get_running_loop().time()
        for node_id in list(self.nodes):
            self._deliver(node_id, now)

    def _deliver(self, me: str, now: float) -> None:
        node = self.nodes.get(me)
        if node is None:
            return
        members: dict[str, Member] = {}
        for other, truth in self.status.items():
            known = node.membership.view.get(other)
            if other == me or truth is MemberStatus.LEFT:
                members[other] = self.member(other, truth)  # own tags; a leave is gossiped
            elif self.reachable(me, other):
                self.unreachable_since.pop((me, other), None)
                members[other] = self.member(other, truth)
            elif known is not None:  # crashed or cut off: failed once detection fires
                since = self.unreachable_since.setdefault((me, other), now)
                failed = now - since >= DETECT_S
                members[other] = self.member(other, MemberStatus.FAILED) if failed else known
        node.membership.deliver(members)

    # --- lifecycle -----------------------------------------------------------------------------

    def join(self, node_id: str) -> SimNode:
        node = SimNode(self, node_id)
        self.nodes[node_id] = node
        self.status[node_id] = MemberStatus.ACTIVE
        node.start()
        self.gossip_now(node_id)
        return node

    async def leave(self, node_id: str) -> None:
        node = self.nodes[node_id]
        await node.drain()
        node.crash()  # stops its loops; it has handed everything off
        del self.nodes[node_id]
        self.changed()

    def crash(self, node_id: str) -> None:
        self.nodes.pop(node_id).crash()
        self.status[node_id] = MemberStatus.FAILED
        self.changed()

    def partition(self, groups: list[set[str]]) -> None:
        self.groups = groups
        self.changed()

    def heal(self) -> None:
        if self.groups:
            self.changed()
        self.groups = []

    async def invoke(self, via: str, actor: str, op: str) -> Any:
        node = self.nodes[via]
        return await node.spawn(
            node.router.invoke(actor, "apply", {"op": op}, system=SYS, parent="ledger")
        )

    async def read(self, via: str, actor: str) -> list[str]:
        node = self.nodes[via]
        state = await node.spawn(
            node.router.invoke(actor, "get_state", None, system=SYS, parent="ledger")
        )
        return list((state or {}).get("ops", []))

    def stop(self) -> None:
        for node in list(self.nodes.values()):
            node.crash()
