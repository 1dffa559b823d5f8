"""Owner lookup and the pure functions over rings: `moves`, `to_hand_off`, `load`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from roost.placement.ring import DEFAULT_VNODES, Move, Ring, load, moves, to_hand_off

KEYS = [("sys", f"actor-{i}") for i in range(10_000)]
THREE = ["n1", "n2", "n3"]
ROOT = Path(__file__).resolve().parents[2]


def owners(ring: Ring, keys: list[tuple[str, str]] = KEYS) -> list[str | None]:
    return [ring.owner(s, a) for s, a in keys]


def spread(ring: Ring) -> float:
    """Most loaded member's share of `KEYS` over the mean share."""
    counts = load(ring, KEYS)
    return max(counts.values()) / (len(KEYS) / len(ring))


def test_owner_depends_only_on_the_member_set() -> None:
    a = Ring(THREE)
    b = Ring(["n3", "n1", "n2", "n1"])  # order and duplicates do not matter
    assert a.members == b.members == ("n1", "n2", "n3")
    assert owners(a) == owners(b) == owners(Ring(THREE))
    assert set(owners(a)) == set(THREE)  # every member owns something
    # the key is system/actor: the same actor name in another system is another key
    assert owners(a, [("s1", f"k{i}") for i in range(200)]) != owners(
        a, [("s2", f"k{i}") for i in range(200)]
    )


def test_owner_is_the_same_in_every_process() -> None:
    """Every node computes the same owner without talking: nothing may depend on Python's
    per-process hash seed."""
    code = (
        "import json; from roost.placement.ring import Ring; r = Ring(['n1', 'n2', 'n3']);"
        "print(json.dumps([r.owner('sys', f'actor-{i}') for i in range(300)]))"
    )
    here = owners(Ring(THREE), KEYS[:300])
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT / "src")}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == here


def test_empty_and_single_member_rings() -> None:
    assert Ring([]).owner("sys", "a") is None and len(Ring([])) == 0
    assert set(owners(Ring(["solo"]), KEYS[:100])) == {"solo"}
    assert load(Ring([]), KEYS[:10]) == {}
    # from nobody to one member: every key moves, from None
    ms = moves(Ring([]), Ring(["solo"]), KEYS[:10])
    assert ms == [Move(s, a, None, "solo") for s, a in KEYS[:10]]


def test_adding_a_fourth_member_moves_about_a_quarter_of_the_keys_all_to_it() -> None:
    old, new = Ring(THREE), Ring([*THREE, "n4"])
    ms = moves(old, new, KEYS)
    assert {m.new for m in ms} == {"n4"}  # nothing moves between the old members
    assert 0.15 <= len(ms) / len(KEYS) <= 0.35
    moved = {(m.system, m.actor) for m in ms}
    for (s, a), before, after in zip(KEYS, owners(old), owners(new), strict=True):
        assert ((s, a) in moved) == (before != after)
    assert all(m.old == old.owner(m.system, m.actor) for m in ms)
    assert len(ms) == load(new, KEYS)["n4"]


@pytest.mark.parametrize("gone", THREE)
def test_removing_a_member_moves_only_its_keys(gone: str) -> None:
    old = Ring(THREE)
    new = Ring([m for m in THREE if m != gone])
    ms = moves(old, new, KEYS)
    assert {m.old for m in ms} == {gone}
    assert {m.new for m in ms} == set(new.members)  # spread over the others, not all to one
    assert len(ms) == load(old, KEYS)[gone]
    # and back: the member that returns gets exactly its old keys back
    back = moves(new, old, KEYS)
    assert sorted((m.actor, m.old, m.new) for m in back) == sorted(
        (m.actor, m.new, m.old) for m in ms
    )


def test_moves_between_identical_rings_is_empty() -> None:
    assert moves(Ring(THREE), Ring(list(reversed(THREE))), KEYS) == []


def test_to_hand_off_lists_exactly_what_this_node_loses() -> None:
    old, new = Ring(THREE), Ring([*THREE, "n4"])
    mine = [k for k in KEYS if old.owner(*k) == "n1"]
    lost = to_hand_off("n1", new, mine)
    assert lost == [(m.system, m.actor) for m in moves(old, new, mine)]
    assert all(new.owner(*k) == "n4" for k in lost)
    assert 0 < len(lost) < len(mine)
    assert to_hand_off("n1", old, mine) == []  # nothing changed, nothing to give up
    # an activation this node holds but does not own (a stray) is handed off too
    stray = next(k for k in KEYS if new.owner(*k) == "n2")
    assert to_hand_off("n1", new, [stray]) == [stray]
    # a ring without this node (it is draining): everything goes, in order
    assert to_hand_off("n1", Ring(["n2", "n3"]), mine) == mine
    assert to_hand_off("n1", Ring([]), mine[:5]) == mine[:5]


def test_load_counts_every_key_once_and_lists_every_member() -> None:
    ring = Ring([*THREE, "n4"])
    counts = load(ring, KEYS)
    assert set(counts) == set(ring.members)
    assert sum(counts.values()) == len(KEYS)
    assert counts == Counter(owners(ring))
    assert load(ring, []) == dict.fromkeys(ring.members, 0)


def test_vnodes_change_the_spread() -> None:
    members = [f"m{i}" for i in range(5)]
    coarse, default = Ring(members, vnodes=1), Ring(members)
    assert default.vnodes == DEFAULT_VNODES
    assert spread(coarse) > 1.5  # one point per member: arcs of very unequal length
    assert spread(default) < 1.1  # 1000 points per member: close to even
    assert not coarse.same_members(default)  # another vnodes setting is another ring
    assert owners(coarse) != owners(default)
    # more vnodes also keep a join's movement close to the ideal 1/4
    for vnodes in (16, DEFAULT_VNODES):
        share = len(moves(Ring(THREE, vnodes), Ring([*THREE, "n4"], vnodes), KEYS)) / len(KEYS)
        assert 0.15 <= share <= 0.35
