"""A simulated Roost cluster: real runtimes, routers and placement on a fake network and a fake
gossip layer, sharing one in-memory statestore, all on the virtual clock of `vloop`.

What is real: `Runtime`, `Router`, `Placement`, `MemoryStore`, the lease and fencing logic.
What is simulated: the network between nodes (latency, partitions, crashes), Serf (views converge
after a gossip tick; an unreachable member is declared failed after `DETECT_S`), and clients.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from roost import Actor, Context, Value, action
from roost.errors import Timeout
from roost.membership.base import Member, MemberStatus, MemberView, ViewListener
from roost.metrics import Metrics
from roost.placement.placement import Placement
from roost.placement.router import Router, Unreachable
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
                self.log.writes.setdefault(it.key, []).append((rev, self.node, gen))
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


@dataclass
class WriteLog:
    generation: dict[tuple[str, ActorKey], int] = field(default_factory=dict)
    writes: dict[ActorKey, list[tuple[int, str, int]]] = field(default_factory=dict)


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


class SimForwarder:
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
        task = dst.spawn(
            dst.router.invoke(
                actor, action, wire, system=system, parent=parent, metadata=metadata,
                caller=caller, hops=hops, timeout=timeout, shielded=True, dedupe=dedupe,
            )
        )  # fmt: skip
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
        self.log = WriteLog()
        self.nodes: dict[str, SimNode] = {}
        self.status: dict[str, MemberStatus] = {}  # the truth (crashed nodes: FAILED)
        self.groups: list[set[str]] = []  # partitions; empty = fully connected
        self.unreachable_since: dict[tuple[str, str], float] = {}
        self.incarnations = 0

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
        return Member(node_id, f"{node_id}:8800", f"{node_id}:7946", status)

    def gossip_now(self, node_id: str) -> None:
        """A node's own status change reaches its own view at once (Serf tags are local)."""
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

    def crash(self, node_id: str) -> None:
        self.nodes.pop(node_id).crash()
        self.status[node_id] = MemberStatus.FAILED

    def partition(self, groups: list[set[str]]) -> None:
        self.groups = groups

    def heal(self) -> None:
        self.groups = []

    async def invoke(self, via: str, actor: str, op: str) -> Any:
        node = self.nodes[via]
        return await node.spawn(
            node.router.invoke(
                actor, "apply", {"op": op}, system=SYS, parent="ledger", shielded=True
            )
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
