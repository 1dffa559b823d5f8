"""A draining node takes no new work for the actors it hands off (issue 23): `Placement.leave`
takes it off its own ring at once, so a call that reaches it goes on to the new owner instead
of activating the actor again (or failing with "node is draining"), and a call it cannot place
is answered 503 with Retry-After within `LEAVING_RETRY`, not held until its deadline.

The fake network of `test_router` (real runtimes and routers over one `MemoryStore`, a fake
clock that only backoff sleeps move): deterministic, no wall time.
"""

from __future__ import annotations

import pytest

from roost.errors import Unavailable
from roost.membership.base import MemberView
from roost.metrics import Metrics
from roost.placement.placement import Placement
from roost.placement.ring import Ring
from roost.placement.router import LEAVING_RETRY
from tests.placement.test_router import ACTIVE, DRAINING, SYS, Net, build, call, ran_on, see


def owned_by(node: str, members: list[str]) -> str:
    ring = Ring(members)
    return next(f"k-{i}" for i in range(1000) if ring.owner(SYS, f"k-{i}") == node)


def placement(net: Net, node: str) -> Placement:
    r = net.routers[node]
    return Placement(node, r, r.runtime, Metrics(node, process=False), 64)


async def test_a_draining_node_sends_a_handed_off_actor_s_calls_to_the_new_owner() -> None:
    """a drains while its own view still says `active` (its status not yet gossiped back, or its
    serf agent unable to publish it); b has seen a draining. A call reaching a for an actor it
    just handed off runs on b, the new owner: a neither activates it again nor refuses it."""
    net = build(["a", "b"])
    see(net.routers["a"], {"a": ACTIVE, "b": ACTIVE})
    see(net.routers["b"], {"a": ACTIVE, "b": ACTIVE})
    actor = owned_by("a", ["a", "b"])
    assert await call(net, "a", actor) == {"n": 1} and ran_on(net, actor) == ["a"]
    pa = placement(net, "a")
    pa.leave()  # Node._drain, first thing on SIGTERM
    assert await net.routers["a"].runtime.flush_all("drain") == 1
    see(net.routers["b"], {"a": DRAINING, "b": ACTIVE}, version=2)
    assert net.routers["a"].owner(SYS, actor) == "b"
    assert await call(net, "a", actor) == {"n": 2}  # the state went with it
    assert [(h.src, h.dst, h.hops) for h in net.log] == [("a", "b", 1)]
    assert ran_on(net, actor) == ["b"] and net.sleeps == []
    # a later view that still lists a as active does not put it back on its own ring
    pa.on_view(MemberView(net.routers["a"].view.members, 3))
    assert "a" not in net.routers["a"].ring.members


async def test_a_draining_node_answers_503_soon_when_it_cannot_place_a_call() -> None:
    """b has not seen a draining yet and sends the call back: a does not hold it (and its own
    drain) until the call's deadline; it answers 503 with Retry-After after `LEAVING_RETRY`."""
    net = build(["a", "b"])
    see(net.routers["a"], {"a": ACTIVE, "b": ACTIVE})
    see(net.routers["b"], {"a": ACTIVE, "b": ACTIVE})
    actor = owned_by("b", ["a", "b"])
    placement(net, "a").leave()
    see(net.routers["b"], {"a": ACTIVE, "b": DRAINING}, version=2)  # b thinks a owns it
    t0 = net.clock()
    with pytest.raises(Unavailable) as err:
        await call(net, "a", actor, timeout=30.0)
    assert net.clock() - t0 <= LEAVING_RETRY
    assert "draining" in err.value.message and err.value.retry_after >= 1.0
    assert ran_on(net, actor) == []
