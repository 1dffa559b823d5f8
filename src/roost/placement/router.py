"""`Router`: where one invocation runs. Every step is safe on a stale membership view.

For actor K arriving at node N with `hops` so far:

1. if N has K active, run it here (a queued call waits behind a handoff in progress and is routed
   again when the handoff closes the activation);
2. if N's ring names another owner, forward there (hops + 1);
3. if N owns K, activate it: taking the lease may find another live node M holding it (M is
   handing K off, or has a stale view): forward to M, which serves it or queues it behind its
   handoff and then forwards it to the new owner;
4. past the hop limit, or when the owner is unreachable (connection refused: the call was never
   delivered), wait with backoff for the views to settle and start again, until the deadline;
   only then answer 503 with Retry-After. Only the node where the call entered waits: a
   forwarded call that cannot be placed goes back to its sender at once as `NotPlaced`, so a
   call's path never holds more than `HOP_LIMIT` forwards, however long the views disagree.

A payload may arrive as a `RawPayload` (the bytes the entry node received): it is decoded only
where the call runs here, and forwarded as the same bytes otherwise.

Nothing here retries a call whose outcome is unknown (sent, then the connection broke): that would
apply an update twice. Such a call fails with `Timeout`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from roost.errors import (
    RETRY_AFTER,
    BadRequest,
    LeaseHeld,
    NotOwner,
    NotPlaced,
    RoostError,
    StateConflict,
    SystemNotFound,
    Unavailable,
)
from roost.membership.base import Member, MemberStatus, MemberView

# re-exported: code that imported the systems tag from here keeps working
from roost.membership.systems import SYSTEMS_TAG as SYSTEMS_TAG  # noqa: PLC0414
from roost.membership.systems import any_host
from roost.membership.systems import hosts_system as hosts_system  # noqa: PLC0414
from roost.payload import decoded
from roost.placement.ring import Ring, ring_version
from roost.runtime.host import Runtime
from roost.runtime.labels import invocation_labels
from roost.sdk.context import ActorId

HOP_LIMIT = 3
BACKOFF_START = 0.05
BACKOFF_MAX = 1.0
# A draining node does not hold a call it cannot place while the views settle (that wait would
# hold its drain): past this many seconds of retries it answers 503 with Retry-After at once.
LEAVING_RETRY = 1.0


class RemoteSystems(Protocol):
    """Systems hosted by other Roost clusters, reached through their public API."""

    def __contains__(self, system: object) -> bool: ...

    async def invoke(
        self,
        system: str,
        actor: str,
        action: str,
        payload: Any,
        *,
        parent: str | None,
        metadata: Mapping[str, str] | None,
        timeout: float,
    ) -> Any: ...


class Unreachable(Unavailable):
    """The owner could not be reached and never received the call; retrying is safe."""


class Forwarder(Protocol):
    """Delivers an invocation to another node (over the peer link, or its internal HTTP API for
    a peer without one) and returns its reply."""

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
        """Raises `Unreachable` if the call was not delivered, else the remote's error."""


@runtime_checkable
class RetainsPeers(Protocol):
    """Optional for a `Forwarder`: one that holds something per member (a connection) is told,
    on every membership view, which members are still live, and lets the others go. Called from
    the event loop, never concurrently; must not block."""

    def retain(self, member_ids: Collection[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class Call:
    """One invocation on the slow path (routing, retries, forwarding)."""

    system: str
    actor: str
    action: str
    payload: Any
    parent: str | None
    metadata: Mapping[str, str] | None
    caller: ActorId | None
    dedupe: str | None = None


class _Retry(Exception):
    """Internal: this attempt could not be placed; back off and try again. `relayed`: the reason
    came back from a node further down the path (it names that node already)."""

    def __init__(self, reason: str, *, relayed: bool = False) -> None:
        super().__init__(reason)
        self.relayed = relayed


class Router:
    def __init__(
        self,
        node_id: str,
        runtime: Runtime,
        *,
        forwarder: Forwarder | None = None,
        request_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.node_id = node_id
        self.runtime = runtime
        self.forwarder = forwarder
        self.request_timeout = request_timeout
        self.clock = clock
        self.sleep = sleep
        self.view = MemberView({}, 0)
        self.ring = Ring([node_id])  # every active member (what the cluster page draws)
        self._rings: dict[str, Ring] = {}  # per system: the active members that host it
        self.ring_version = ring_version({node_id: None}, self.ring.vnodes)  # what clients see
        self.remote: RemoteSystems | None = None  # systems of other clusters, via their API
        self.forwarded = 0
        self.leaving = False  # this node is draining (see `Placement.leave`)

    def ring_for(self, system: str) -> Ring:
        """The ring of `system`: active members whose `systems` tag names it (a member with no
        such tag hosts every system)."""
        ring = self._rings.get(system)
        if ring is None:
            base = self.ring
            if not self.view.members:
                ring = base
            else:
                hosts = [m for m in base.members if hosts_system(self.view.get(m), system)]
                ring = base if len(hosts) == len(base) else base.subset(hosts)
            self._rings[system] = ring
        return ring

    def owner(self, system: str, actor: str) -> str | None:
        return self.ring_for(system).owner(system, actor)

    def check_hosted(self, system: str) -> None:
        """Raise `SystemNotFound` when no live member of the view hosts `system` (an empty view,
        a node still starting, hosts everything it was configured with)."""
        if self.view.members and not any_host(self.view.members.values(), system):
            raise SystemNotFound(f"no member of this cluster hosts system {system!r}")

    def owns(self, system: str, actor: str) -> bool:
        return self.ring_for(system).owner(system, actor) == self.node_id

    def update(self, view: MemberView, ring: Ring) -> None:
        self.view = view
        self.ring = ring
        self._rings = {}
        hosting = {}
        for m in ring.members:
            member = view.get(m)
            hosting[m] = None if member is None else member.tags.get(SYSTEMS_TAG)
        self.ring_version = ring_version(hosting, ring.vnodes, ring.hash_name)
        if isinstance(self.forwarder, RetainsPeers):  # links to departed members are closed
            # A failed member keeps its link: failure is a suspicion (a live node marked failed
            # through a partition or a slow agent), and closing the link would cut its calls in
            # flight (outcome unknown, 504); a dead peer's connection is cut by its silence.
            self.forwarder.retain(
                [m.id for m in view.members.values() if m.status is not MemberStatus.LEFT]
            )

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
        hops: int = 0,
        timeout: float | None = None,
        dedupe: str | None = None,
    ) -> Any:
        """Run the invocation wherever its actor lives and return the reply. `dedupe` (a
        broadcast id) makes a subscriber skip a delivery it has already had."""
        rt = self.runtime
        key = (system, actor)
        ring = self._rings.get(system) or self.ring_for(system)
        held: LeaseHeld | None = None
        owner: str | None = None
        if (
            key in rt.active
            or key in rt.pools
            or (owner := ring.owner(system, actor)) == self.node_id
        ):
            owner = None  # (the ring may change while the turn runs: look again if it fails)
            try:  # the common case: it is ours (pooled actors run wherever they are called)
                return await rt.invoke(
                    system, actor, action, decoded(payload), parent=parent, metadata=metadata,
                    caller=caller, dedupe=dedupe,
                )  # fmt: skip
            except (NotOwner, StateConflict):
                pass  # closed under us, or fenced out: nothing ran, route it again
            except LeaseHeld as exc:
                held = exc  # the first attempt goes to the holder, without asking the store again
        if not len(ring) and system not in rt.systems:
            if self.remote is not None and system in self.remote:
                return await self.remote.invoke(
                    system, actor, action, decoded(payload), parent=parent, metadata=metadata,
                    timeout=self.request_timeout if timeout is None else timeout,
                )  # fmt: skip
            self.check_hosted(system)
        call = Call(system, actor, action, payload, parent, metadata, caller, dedupe)
        return await self._route(call, hops, timeout, held, owner)

    async def _route(
        self,
        call: Call,
        hops: int,
        timeout: float | None,
        held: LeaseHeld | None = None,
        owner: str | None = None,
    ) -> Any:
        """`held`: the fast path already found the lease taken; the first attempt starts there.
        `owner`: the owner the fast path just found (same ring, no await since): not hashed
        again for the first attempt."""
        budget = self.request_timeout if timeout is None else timeout
        start = self.clock()
        deadline = start + budget
        delay = BACKOFF_START
        while True:
            try:
                return await self._attempt(call, hops, deadline, held, owner)
            except _Retry as r:
                held, owner = None, None
                reason = str(r)
                if hops:
                    # A forwarded call: hand it back now, and its entry node waits and starts
                    # again. Waiting here with a fresh hop count would nest a new trip inside
                    # this one at every backoff: a forwarding loop bounded only by the deadline.
                    raise NotPlaced(
                        reason if r.relayed else f"on {self.node_id}: {reason}",
                        retry_after=RETRY_AFTER,
                    ) from None
            now = self.clock()
            if deadline - now <= delay or (self.leaving and now - start + delay > LEAVING_RETRY):
                self._count_unplaced(call)
                raise Unavailable(
                    f"could not place {call.system}/{call.actor} within "
                    f"{now - start:.1f}s{' (node draining)' if self.leaving else ''}: {reason}",
                    retry_after=RETRY_AFTER,
                )
            await self.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
            # "start again" with hops still 0: the views have had time to settle, and the next
            # attempt has the whole hop budget

    async def _attempt(
        self,
        call: Call,
        hops: int,
        deadline: float,
        held: LeaseHeld | None = None,
        owner: str | None = None,
    ) -> Any:
        rt = self.runtime
        system, actor = call.system, call.actor
        if owner is None:
            owner = self.ring_for(system).owner(system, actor)
        if held is None and ((system, actor) in rt.active or owner == self.node_id):
            try:
                return await rt.invoke(
                    system,
                    actor,
                    call.action,
                    decoded(call.payload),
                    parent=call.parent,
                    metadata=call.metadata,
                    caller=call.caller,
                    dedupe=call.dedupe,
                )
            except (NotOwner, StateConflict) as exc:
                # closed under us, or its fenced write lost to a newer owner: nothing was
                # applied, so routing again (to the new owner) is safe
                raise _Retry(str(exc)) from None
            except LeaseHeld as exc:
                held = exc
        if held is not None:
            target = self._live(held.holder)
            if target is None or held.holder == self.node_id:
                raise _Retry(f"lease held by {held.holder}, not a live member")
        elif owner is None:
            raise _Retry("no active member in this node's view")
        else:
            target = self._live(owner)
            if target is None:
                raise _Retry(f"owner {owner} is not in this node's view")
        if hops >= HOP_LIMIT:
            raise _Retry(f"hop limit {HOP_LIMIT} reached")
        if self.forwarder is None:
            raise _Retry("no forwarder (single-node mode)")
        try:
            self.forwarded += 1
            reply = await self.forwarder.forward(
                target,
                system,
                actor,
                call.action,
                call.payload,
                parent=call.parent,
                metadata=call.metadata,
                caller=call.caller,
                hops=hops + 1,
                timeout=max(0.05, deadline - self.clock()),
                dedupe=call.dedupe,
            )
        except Unreachable as exc:
            self._count_forward(call, "unreachable")
            raise _Retry(str(exc)) from None
        except NotPlaced as exc:  # nothing ran down the path: placing it again is safe
            self._count_forward(call, exc.code)
            raise _Retry(exc.message, relayed=True) from None
        except RoostError as exc:
            self._count_forward(call, exc.code)
            raise
        self._count_forward(call, "ok")
        return reply

    def _labels(self, call: Call) -> tuple[str, str, str]:
        return invocation_labels(
            self.runtime.systems, call.system, call.actor, call.action, call.parent
        )

    def _count_forward(self, call: Call, outcome: str) -> None:
        """Forwarded calls by outcome, on the forwarding node (the slow path only)."""
        m = self.runtime.metrics
        system, type_name, _ = self._labels(call)
        m.bump(m.forwarded, (system, type_name, outcome))

    def _count_unplaced(self, call: Call) -> None:
        """A call that found no node before its deadline never reached a runtime to be counted."""
        m = self.runtime.metrics
        m.bump(m.invocations, (*self._labels(call), "unavailable"))

    def _live(self, member_id: str) -> Member | None:
        m = self.view.get(member_id)
        if m is None or m.status in (MemberStatus.FAILED, MemberStatus.LEFT):
            return None
        return m


MAX_FORWARD_TIMEOUT = 600.0  # seconds: the public API's X-Roost-Timeout-Ms bound


def forwarded_bounds(hops: str | int, timeout_ms: str | float) -> tuple[int, float]:
    """The hop count and deadline (seconds) a peer sent with a forwarded call, checked: hops in
    1..HOP_LIMIT, a finite deadline above 0 and at most MAX_FORWARD_TIMEOUT. Only signed peers
    send them, but a bad value must be a 400, never a loop, a wait forever or a 500."""
    try:
        n, ms = int(hops), float(timeout_ms)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"bad internal routing header: {exc}") from None
    if not 1 <= n <= HOP_LIMIT:
        raise BadRequest(f"bad internal routing header: hops {n} is not in 1..{HOP_LIMIT}")
    if not 0 < ms <= MAX_FORWARD_TIMEOUT * 1000:  # False for nan, and inf is above the bound
        raise BadRequest(
            f"bad internal routing header: timeout {ms!r} ms is not in (0, "
            f"{MAX_FORWARD_TIMEOUT * 1000:.0f}]"
        )
    return n, ms / 1000.0
