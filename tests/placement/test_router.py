"""`Router` on a fake network: the hop limit, loop freedom, backoff and the 503 deadline.

Real `Runtime`s and `Router`s over one `MemoryStore`; the network is `Net` (a forward is a direct
call of the target's router, recorded with its hop count), views are set by hand, and time is a
`FakeClock` that only the routers' backoff sleeps move. Every test is deterministic and takes no
wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from roost import Actor, Context, Value, action
from roost.errors import NotPlaced, Timeout, Unavailable, error_from_body
from roost.membership.base import Member, MemberStatus, MemberView
from roost.metrics import Metrics
from roost.node.responses import error_response
from roost.placement.ring import Ring
from roost.placement.router import BACKOFF_MAX, HOP_LIMIT, Router, Unreachable
from roost.runtime.host import Runtime
from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActorType
from roost.sdk.context import ActorId
from roost.statestore.memory import MemoryStore
from tests.conftest import FakeClock

SYS = "s"
TIMEOUT = 5.0
ACTIVE, DRAINING = MemberStatus.ACTIVE, MemberStatus.DRAINING


class Tick(Actor):
    """Counts the calls it ran (sync: each one is in the store before the reply)."""

    name = "tick"
    kind = "unnamed"
    durability = "sync"

    @action
    async def add(self, payload: Any, ctx: Context) -> Value:
        n = (ctx.state or {}).get("n", 0) + 1
        return Value().state({"n": n}).response({"n": n})


@dataclass
class Hop:
    src: str
    dst: str
    hops: int


@dataclass
class Net:
    """Routers joined by a fake network. `on_sleep` runs at every backoff sleep, after the clock
    moved: the test's way to let views settle (or a node come back) while a call waits."""

    clock: FakeClock
    routers: dict[str, Router] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)  # refuse connections: never delivered
    lose_reply: set[str] = field(default_factory=set)  # delivered, then the reply is lost
    log: list[Hop] = field(default_factory=list)
    depth: int = 0  # forwarded calls in flight right now
    max_depth: int = 0
    sleeps: list[tuple[str, float]] = field(default_factory=list)  # (who slept, how long)
    on_sleep: Callable[[], None] | None = None

    def sleeper(self, node_id: str) -> Callable[[float], Any]:
        async def sleep(seconds: float) -> None:
            self.sleeps.append((node_id, seconds))
            self.clock.advance(seconds)
            if self.on_sleep is not None:
                self.on_sleep()
            await asyncio.sleep(0)

        return sleep


class NetForwarder:
    def __init__(self, net: Net, src: str) -> None:
        self.net, self.src = net, src

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
        net = self.net
        if member.id in net.down:
            raise Unreachable(f"{self.src} cannot connect to {member.id}")
        net.log.append(Hop(self.src, member.id, hops))
        net.depth += 1
        net.max_depth = max(net.max_depth, net.depth)
        try:
            reply = await net.routers[member.id].invoke(
                actor, action, payload, system=system, parent=parent, metadata=metadata,
                caller=caller, hops=hops, timeout=timeout, dedupe=dedupe,
            )  # fmt: skip
        finally:
            net.depth -= 1
        if member.id in net.lose_reply:
            raise Timeout(f"the reply of {member.id} was lost; outcome unknown")
        return reply


def build(ids: list[str], actors: tuple[type[Actor], ...] = (Tick,)) -> Net:
    clock = FakeClock()
    net = Net(clock)
    store = MemoryStore(clock=clock)
    types = {SYS: SystemTypes.build(SYS, [ActorType.from_class(a) for a in actors])}
    for node_id in ids:
        rt = Runtime(
            node_id=node_id,
            store=store,
            systems=types,
            metrics=Metrics(node_id, process=False),
            clock=clock,
        )
        router = Router(
            node_id,
            rt,
            forwarder=NetForwarder(net, node_id),
            request_timeout=TIMEOUT,
            clock=clock,
            sleep=net.sleeper(node_id),
        )
        rt.invoker = router
        rt.owns = router.owns  # what Placement wires
        net.routers[node_id] = router
    return net


def see(router: Router, statuses: Mapping[str, MemberStatus], version: int = 1) -> None:
    """Give `router` a view, and the ring over its active members, as `Placement` would."""
    view = MemberView({n: Member(n, f"{n}:1", f"{n}:2", s) for n, s in statuses.items()}, version)
    router.update(view, Ring(view.active_ids(), version=version))


def disagree(net: Net) -> None:
    """a believes b owns everything and b believes a does (each sees itself draining)."""
    see(net.routers["a"], {"a": DRAINING, "b": ACTIVE})
    see(net.routers["b"], {"a": ACTIVE, "b": DRAINING})


async def call(net: Net, via: str, actor: str = "k", **kw: Any) -> Any:
    return await net.routers[via].invoke(actor, "add", None, system=SYS, parent="tick", **kw)


def ran_on(net: Net, actor: str = "k") -> list[str]:
    return [n for n, r in net.routers.items() if (SYS, actor) in r.runtime.active]


def attempts(net: Net) -> list[list[int]]:
    """The hop counts of the forwards, split where a new attempt started from hop 1."""
    out: list[list[int]] = []
    for h in net.log:
        if h.hops == 1 or not out:
            out.append([])
        out[-1].append(h.hops)
    return out


# --- the common path ---------------------------------------------------------------------------


async def test_owner_runs_locally_and_another_node_forwards_once() -> None:
    net = build(["a", "b"])
    for r in net.routers.values():
        see(r, {"a": ACTIVE, "b": ACTIVE})
    owner = net.routers["a"].owner(SYS, "k")
    assert owner is not None
    other = "b" if owner == "a" else "a"
    assert (await call(net, owner)) == {"n": 1} and net.log == []
    assert (await call(net, other)) == {"n": 2}
    assert [(h.src, h.dst, h.hops) for h in net.log] == [(other, owner, 1)]
    assert ran_on(net) == [owner] and net.sleeps == []


# --- hop limit and loop freedom ----------------------------------------------------------------


async def test_a_call_travels_at_most_hop_limit_forwards() -> None:
    """Three nodes, each sure the next one owns the actor: a -> b -> c -> a, then a stops."""
    net = build(["a", "b", "c"])
    nxt = {"a": "b", "b": "c", "c": "a"}
    for n, r in net.routers.items():
        see(r, {m: ACTIVE if m == nxt[n] else DRAINING for m in net.routers})
    with pytest.raises(Unavailable) as err:
        await call(net, "a", timeout=2.0)
    assert f"hop limit {HOP_LIMIT}" in err.value.message
    first = [(h.src, h.dst, h.hops) for h in net.log[:HOP_LIMIT]]
    assert first == [("a", "b", 1), ("b", "c", 2), ("c", "a", 3)]
    assert net.max_depth == HOP_LIMIT  # the node at the limit forwarded no further
    assert all(1 <= h.hops <= HOP_LIMIT for h in net.log)
    assert ran_on(net) == []


async def test_disagreeing_views_never_ping_pong_and_get_503_at_the_deadline() -> None:
    net = build(["a", "b"])
    disagree(net)
    t0 = net.clock()
    with pytest.raises(Unavailable) as err:
        await call(net, "a", timeout=2.0)
    elapsed = net.clock() - t0
    assert "hop limit" in err.value.message and err.value.retry_after > 0
    assert err.value.code == "unavailable"  # the internal `not_placed` never reaches a client
    assert 2.0 - BACKOFF_MAX <= elapsed <= 2.0  # it waited for the views, until its deadline
    assert ran_on(net) == []
    # a loop would nest forward inside forward; here every attempt is one trip of <= 3 hops,
    # started again with a fresh count after a backoff
    assert net.max_depth <= HOP_LIMIT, f"{net.max_depth} forwards nested on one path"
    assert attempts(net) == [[1, 2, 3]] * len(attempts(net))
    assert len(attempts(net)) == len(net.sleeps) + 1
    # the backoff grows (a retry loop nested in each hop would restart it at its minimum)
    delays = [d for _, d in net.sleeps]
    assert delays == sorted(delays) and delays[-1] >= 8 * delays[0]
    assert {who for who, _ in net.sleeps} == {"a"}  # only the node the call entered waited


async def test_a_forwarded_call_at_the_hop_limit_is_handed_back_at_once() -> None:
    """The node that reaches the limit neither forwards nor waits: its caller decides."""
    net = build(["a", "b"])
    disagree(net)
    with pytest.raises(NotPlaced) as err:
        await call(net, "b", hops=HOP_LIMIT)
    assert err.value.message == f"on b: hop limit {HOP_LIMIT} reached"
    assert net.log == [] and net.sleeps == []  # b neither forwarded nor slept


def test_not_placed_crosses_the_internal_api_as_itself() -> None:
    """Over HTTP the sender must still tell "nothing ran, place it again" from other 503s."""
    resp = error_response(NotPlaced("on b: hop limit 3 reached"))
    assert resp.status == 503 and int(resp.headers["Retry-After"]) >= 1
    assert isinstance(resp.body, bytes)
    err = error_from_body(resp.status, resp.body)
    assert type(err) is NotPlaced and err.message == "on b: hop limit 3 reached"
    other = error_response(Unavailable("node is draining"))
    assert isinstance(other.body, bytes)
    plain = error_from_body(other.status, other.body)
    assert type(plain) is Unavailable  # which the router does not retry on a peer's behalf


@pytest.mark.parametrize("settled", [["a"], ["b"], ["a", "b"]])
async def test_a_call_is_served_once_the_views_settle(settled: list[str]) -> None:
    net = build(["a", "b"])
    disagree(net)
    t0 = net.clock()

    def settle() -> None:
        if net.clock() - t0 >= 0.3:
            for r in net.routers.values():
                see(r, {n: ACTIVE if n in settled else DRAINING for n in ("a", "b")}, 2)

    net.on_sleep = settle
    assert await call(net, "a", timeout=TIMEOUT) == {"n": 1}
    assert net.clock() - t0 < 1.0  # served soon after the views agreed, long before the deadline
    owner = net.routers["a"].owner(SYS, "k")
    assert ran_on(net) == [owner]
    assert net.max_depth <= HOP_LIMIT
    # the attempts before the views settled hit the limit; the one after started from hop 1
    assert all(a == [1, 2, 3] for a in attempts(net)[:-1])
    assert owner == "a" or attempts(net)[-1] == [1]


async def test_an_unreachable_owner_is_retried_until_it_answers() -> None:
    net = build(["a", "b"])
    for r in net.routers.values():
        see(r, {"a": DRAINING, "b": ACTIVE})
    net.down = {"b"}

    def back() -> None:
        if len(net.sleeps) == 3:
            net.down.clear()

    net.on_sleep = back
    assert await call(net, "a", timeout=TIMEOUT) == {"n": 1}
    assert ran_on(net) == ["b"] and len(net.sleeps) == 3


async def test_an_unreachable_owner_gives_503_with_retry_after_only_at_the_deadline() -> None:
    net = build(["a", "b"])
    for r in net.routers.values():
        see(r, {"a": DRAINING, "b": ACTIVE})
    net.down = {"b"}
    t0 = net.clock()
    with pytest.raises(Unavailable) as err:
        await call(net, "a", timeout=3.0)
    assert 3.0 - BACKOFF_MAX <= net.clock() - t0 <= 3.0
    assert len(net.sleeps) >= 4  # it kept trying while it had time
    resp = error_response(err.value)
    assert resp.status == 503 and int(resp.headers["Retry-After"]) >= 1
    assert isinstance(resp.body, bytes)
    body = orjson.loads(resp.body)
    assert body["error"]["code"] == "unavailable" and "b" in body["error"]["message"]


async def test_a_delivered_call_whose_reply_was_lost_is_never_retried() -> None:
    net = build(["a", "b"])
    for r in net.routers.values():
        see(r, {"a": DRAINING, "b": ACTIVE})
    net.lose_reply = {"b"}
    with pytest.raises(Timeout):
        await call(net, "a")
    assert len(net.log) == 1 and net.sleeps == []
    net.lose_reply.clear()
    assert await call(net, "a") == {"n": 2}  # it ran once: applying it again would double it


# --- a call queued behind a handoff follows the actor (DESIGN, routing step 3) -----------------


class Held(Actor):
    """`hold` keeps its turn until `gate` is set; `add` counts."""

    name = "held"
    kind = "unnamed"
    durability = "sync"
    gate: asyncio.Event | None = None

    @action
    async def hold(self, payload: Any, ctx: Context) -> Value:
        assert Held.gate is not None
        await Held.gate.wait()
        return Value().state(ctx.state or {"n": 0}).response("held")

    @action
    async def add(self, payload: Any, ctx: Context) -> Value:
        n = (ctx.state or {}).get("n", 0) + 1
        return Value().state({"n": n}).response({"n": n})


async def test_a_call_queued_behind_a_handoff_goes_on_to_the_new_owner() -> None:
    """a forwards to b, the owner; the call waits behind a turn on b; b hands the actor to a
    meanwhile. b sends the call on to a as soon as it released the actor (hop 2; `Router.invoke`
    routes a call again when the activation it waited on closed), so a never backs off."""
    Held.gate = asyncio.Event()
    net = build(["a", "b"], (Tick, Held))
    for r in net.routers.values():
        see(r, {"a": ACTIVE, "b": ACTIVE})
    ring = Ring(["a", "b"])
    actor = next(f"h-{i}" for i in range(1000) if ring.owner(SYS, f"h-{i}") == "b")
    b = net.routers["b"]
    held = asyncio.ensure_future(b.invoke(actor, "hold", None, system=SYS, parent="held"))
    while (SYS, actor) not in b.runtime.active or not b.runtime.active[(SYS, actor)].busy:
        await asyncio.sleep(0)
    queued = asyncio.ensure_future(
        net.routers["a"].invoke(actor, "add", None, system=SYS, parent="held")
    )
    while not b.runtime.active[(SYS, actor)].queued:
        await asyncio.sleep(0)
    for r in net.routers.values():  # b drains: every ring now gives the actor to a
        see(r, {"a": ACTIVE, "b": DRAINING}, version=2)
    handoff = asyncio.ensure_future(b.runtime.deactivate([b.runtime.active[(SYS, actor)]], "x"))
    Held.gate.set()
    assert await held == "held"
    await handoff
    assert await queued == {"n": 1}
    assert [(h.src, h.dst, h.hops) for h in net.log] == [("a", "b", 1), ("b", "a", 2)]
    assert net.sleeps == []  # nobody backed off
    assert ran_on(net, actor) == ["a"]


async def test_a_lease_held_by_a_live_peer_is_asked_of_the_store_once_per_call() -> None:
    """The owner finds the lease taken by a peer that still has the actor active (a stale
    view): one lease attempt, one lease wait counted, then the call goes to the holder."""
    net = build(["a", "b"])
    for r in net.routers.values():
        see(r, {"a": ACTIVE, "b": ACTIVE})
    owner = net.routers["a"].owner(SYS, "k")
    assert owner is not None
    other = "b" if owner == "a" else "a"
    see(net.routers[other], {other: ACTIVE, owner: DRAINING})  # it thinks it owns k
    assert await call(net, other) == {"n": 1} and ran_on(net) == [other]

    rt = net.routers[owner].runtime
    tries: list[str] = []
    acquire = rt.store.acquire

    async def counting_acquire(*args: Any, **kw: Any) -> Any:
        tries.append(args[0].actor)
        return await acquire(*args, **kw)

    rt.store.acquire = counting_acquire  # type: ignore[method-assign]
    assert await call(net, owner) == {"n": 2}
    assert tries == ["k"]
    assert sum(rt.metrics.lease_waits.values()) == 1
    assert [(h.src, h.dst, h.hops) for h in net.log] == [(owner, other, 1)]


# --- the forwarder follows the view ------------------------------------------------------------


class RetainingForwarder(NetForwarder):
    """A forwarder that holds something per member: it hears which members to keep."""

    def __init__(self, net: Net, src: str) -> None:
        super().__init__(net, src)
        self.kept: list[set[str]] = []

    def retain(self, member_ids: Collection[str]) -> None:
        self.kept.append(set(member_ids))


def test_every_view_tells_the_forwarder_which_members_are_live() -> None:
    net = build(["a"])
    router = net.routers["a"]
    fwd = RetainingForwarder(net, "a")
    router.forwarder = fwd
    statuses = {"a": ACTIVE, "b": DRAINING, "c": MemberStatus.FAILED, "d": MemberStatus.LEFT,
                "e": MemberStatus.JOINING}  # fmt: skip
    see(router, statuses)
    see(router, {"a": ACTIVE}, version=2)  # b and e gone from the view altogether
    assert fwd.kept == [{"a", "b", "c", "e"}, {"a"}]  # failed is a suspicion: c keeps its link
