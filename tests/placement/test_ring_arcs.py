"""`Ring.arcs` and `Ring.shares` describe exactly the ownership that `Ring.owner` computes."""

from __future__ import annotations

import bisect
import itertools

import pytest

from roost.placement.ring import HASH_SPACE, Ring, point, ring_key


@pytest.mark.parametrize("members", [["a", "b"], ["n1", "n2", "n3"], [f"m{i}" for i in range(7)]])
def test_every_key_falls_in_an_arc_of_its_owner(members: list[str]) -> None:
    ring = Ring(members, vnodes=40)
    arcs = ring.arcs()
    starts = [a for a, _, _ in arcs]
    assert arcs[0][0] == 0.0 and arcs[-1][1] == 1.0
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(arcs))
    for i in range(3000):
        h = point(ring_key("s", f"k{i}")) / HASH_SPACE
        arc = arcs[bisect.bisect_right(starts, h) - 1]
        assert arc[2] == ring.owner("s", f"k{i}")


def test_shares_sum_to_one_and_match_a_sample() -> None:
    ring = Ring(["a", "b", "c"])
    shares = ring.shares()
    assert sum(shares.values()) == pytest.approx(1.0)
    n = 20_000
    for member, share in shares.items():
        owned = sum(ring.owner("s", f"x{i}") == member for i in range(n)) / n
        assert owned == pytest.approx(share, abs=0.02)


def test_degenerate_rings() -> None:
    assert Ring([]).arcs() == [] and Ring([]).shares() == {}
    assert Ring(["solo"]).arcs() == [(0.0, 1.0, "solo")]
    assert Ring(["solo"]).shares() == {"solo": 1.0}
