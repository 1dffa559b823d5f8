"""The ring is exactly what `roost.placement.ring`'s docstring defines, so that a client in any
language (the Node SDK's `ring.ts`) can compute the same owners from GET /v1/cluster/ring."""

from __future__ import annotations

import hashlib
import random

import pytest

from roost.placement.ring import DEFAULT_VNODES, Ring, ring_version


def _spec_owner(members: list[str], vnodes: int, key: str) -> str:
    """The docstring's definition, written out plainly (no shared helpers with the module)."""
    pts: dict[int, str] = {}
    for m in sorted(set(members), key=lambda x: x.encode()):
        made = 0
        j = 0
        while made < vnodes:
            d = hashlib.sha256(f"{m}#{j}".encode()).digest()
            for k in range(5):
                if made == vnodes:
                    break
                p = int.from_bytes(d[6 * k : 6 * k + 6], "big")
                pts.setdefault(p, m)  # equal points: the member first in UTF-8 order keeps it
                made += 1
            j += 1
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "big")
    above = [p for p in pts if p >= h]
    return pts[min(above)] if above else pts[min(pts)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_owners_follow_the_written_definition(seed: int) -> None:
    rng = random.Random(seed)
    members = [f"node-{rng.randrange(10**6)}" for _ in range(rng.randint(2, 6))] + ["é-ü", "z"]
    vnodes = rng.choice([1, 7, 33])
    ring = Ring(members, vnodes)
    for i in range(300):
        actor = f"a{rng.randrange(10**9)}-{i}"
        assert ring.owner("sys", actor) == _spec_owner(members, vnodes, f"sys/{actor}")


def test_a_subset_ring_is_the_ring_built_from_scratch() -> None:
    full = Ring([f"m{i}" for i in range(6)], vnodes=50, version=4)
    part = full.subset(["m1", "m4", "m5", "not-a-member"])
    fresh = Ring(["m1", "m4", "m5"], vnodes=50)
    assert part.members == fresh.members and part.version == 4
    keys = [("s", f"k{i}") for i in range(2000)]
    assert [part.owner(*k) for k in keys] == [fresh.owner(*k) for k in keys]
    assert part.arcs() == fresh.arcs()
    assert full.subset(["m2"]).owner("s", "x") == "m2" and full.subset([]).owner("s", "x") is None


def test_with_version_keeps_the_owners() -> None:
    ring = Ring(["a", "b", "c"], vnodes=20, version=1)
    again = ring.with_version(9)
    assert again.version == 9 and again.same_members(ring)
    assert all(again.owner("s", f"k{i}") == ring.owner("s", f"k{i}") for i in range(500))


def test_default_vnodes_keep_the_load_spread_within_ten_percent() -> None:
    keys = [f"actor-{i}" for i in range(30_000)]
    for n in (3, 10):
        ring = Ring([f"roost-{i}" for i in range(n)])
        counts: dict[str | None, int] = {}
        for k in keys:
            o = ring.owner("spawn-system", k)
            counts[o] = counts.get(o, 0) + 1
        assert ring.vnodes == DEFAULT_VNODES and len(counts) == n
        assert max(counts.values()) / (len(keys) / n) <= 1.10


def test_ring_version_names_what_decides_owners() -> None:
    base = ring_version({"a": None, "b": "s1,s2"}, 1000)
    assert base == ring_version({"b": "s1,s2", "a": None}, 1000)  # order does not matter
    assert len(base) == 16 and int(base, 16) >= 0
    others = {
        ring_version({"a": None}, 1000),  # a member gone
        ring_version({"a": None, "b": "s1"}, 1000),  # another hosting
        ring_version({"a": None, "b": "s1,s2"}, 160),  # another vnode count
        ring_version({"a": "s1", "b": "s1,s2"}, 1000),
    }
    assert base not in others and len(others) == 4
