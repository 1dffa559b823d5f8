"""A rolling upgrade from nodes that predate the SHA-256 ring: while any active member does not
advertise the `ring` tag, every node routes with that older ring (uhashring, 160 points), so old
and new nodes name the same owner for every actor and no call bounces between two rings."""

from __future__ import annotations

from uhashring import HashRing

from roost.membership.base import Member, MemberStatus, MemberView
from roost.metrics import Metrics
from roost.placement.placement import Placement
from roost.placement.ring import HASH_NAME, RING_TAG, Ring, ring_version
from roost.placement.ring_legacy import LEGACY_HASH, LEGACY_VNODES, LegacyRing
from roost.placement.router import Router
from tests.placement.test_router import SYS, build, call, see

NEW = {RING_TAG: HASH_NAME}
KEYS = [f"actor-{i}" for i in range(2000)]


def view(tags: dict[str, dict[str, str]], version: int = 1) -> MemberView:
    members = {
        n: Member(n, f"{n}:1", f"{n}:2", MemberStatus.ACTIVE, tags=dict(t)) for n, t in tags.items()
    }
    return MemberView(members, version)


def placed(router: Router, v: MemberView) -> Placement:
    p = Placement(router.node_id, router, router.runtime, Metrics(router.node_id), vnodes=1000)
    p.on_view(v)
    return p


def test_one_old_member_puts_every_node_on_the_older_ring() -> None:
    net = build(["a", "b", "c"])
    mixed = view({"a": {}, "b": NEW, "c": NEW})  # a has not been upgraded yet
    placed(net.routers["b"], mixed)
    ring = net.routers["b"].ring
    assert isinstance(ring, LegacyRing) and ring.hash_name == LEGACY_HASH
    old = HashRing(nodes=["a", "b", "c"], vnodes=LEGACY_VNODES)  # what node a computes
    assert all(ring.owner(SYS, k) == old.get_node(f"{SYS}/{k}") for k in KEYS)
    # once a is upgraded too, the cluster moves to the SHA-256 ring: another version
    before = net.routers["b"].ring_version
    placed(net.routers["b"], view({"a": NEW, "b": NEW, "c": NEW}, version=2))
    ring = net.routers["b"].ring
    assert type(ring) is Ring and ring.hash_name == HASH_NAME and ring.vnodes == 1000
    assert net.routers["b"].ring_version != before
    assert before == ring_version(dict.fromkeys("abc"), LEGACY_VNODES, LEGACY_HASH)


async def test_mid_upgrade_every_call_is_served_without_bouncing() -> None:
    """a runs the old code (its own uhashring ring); b and c are upgraded and see a without the
    tag. Calls entering at any node reach the one owner in at most one forward."""
    net = build(["a", "b", "c"])
    statuses = dict.fromkeys("abc", MemberStatus.ACTIVE)
    see(net.routers["a"], statuses)
    net.routers["a"].update(net.routers["a"].view, LegacyRing(["a", "b", "c"], version=1))
    mixed = view({"a": {}, "b": NEW, "c": NEW})
    for n in ("b", "c"):
        placed(net.routers[n], mixed)
    for i, k in enumerate(KEYS[:150]):
        via = "abc"[i % 3]
        assert await call(net, via, actor=k) == {"n": 1}
    assert all(h.hops == 1 for h in net.log)  # one forward at most: never a second ring
    assert net.sleeps == []  # nothing waited for views to settle


async def test_without_the_older_ring_the_same_upgrade_bounces() -> None:
    """The control: had the upgraded nodes used the SHA-256 ring next to an old node, calls for
    some actors would go round between the rings until the hop limit."""
    net = build(["a", "b", "c"])
    statuses = dict.fromkeys("abc", MemberStatus.ACTIVE)
    see(net.routers["a"], statuses)
    net.routers["a"].update(net.routers["a"].view, LegacyRing(["a", "b", "c"], version=1))
    for n in ("b", "c"):
        see(net.routers[n], statuses)  # plain SHA-256 ring
    bounced = 0
    for i, k in enumerate(KEYS[:150]):
        net.log.clear()
        try:
            await call(net, "abc"[i % 3], actor=k, timeout=0.2)
        except Exception:
            bounced += 1
            continue
        bounced += any(h.hops > 1 for h in net.log)
    assert bounced > 0
