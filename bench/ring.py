"""Placement figures from the pure ring (`roost.placement.ring`), as every node computes it:

- moved: share of 100,000 actor keys whose owner changes when a 4th node joins 3 (ideal 25%);
- spread: max/mean actors per node over 100,000 keys with 3 and with 10 nodes (ideal 1.0).

Default vnodes (1000), node ids as a StatefulSet names them. Each figure is taken over 3
different key sets (the "runs"); the ring itself is deterministic. Since one set of names could
be lucky, the spread is also taken over 20 random sets of member names (the worst is reported),
and the time to build a 10-member ring (done on every membership change) is measured.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench.common import summary
from roost.placement.ring import DEFAULT_VNODES, Ring, load, moves

KEYS = 100_000


def _keys(run: int, n: int) -> list[tuple[str, str]]:
    return [("spawn-system", f"actor-{run}-{i}") for i in range(n)]


def _spread(nodes: int, keys: list[tuple[str, str]]) -> float:
    counts = load(Ring([f"roost-{i}" for i in range(nodes)]), keys)
    return max(counts.values()) / (len(keys) / nodes)


def _spread_names(nodes: int, keys: list[tuple[str, str]], sets: int = 20) -> list[float]:
    rng = random.Random(nodes)
    out = []
    for _ in range(sets):
        names = [f"node-{rng.randrange(16**8):08x}" for _ in range(nodes)]
        counts = load(Ring(names), keys)
        out.append(max(counts.values()) / (len(keys) / nodes))
    return out


def run(n: int = KEYS, runs: int = 3) -> dict[str, Any]:
    three = Ring([f"roost-{i}" for i in range(3)])
    four = Ring([f"roost-{i}" for i in range(4)])
    moved, spread3, spread10, lookups = [], [], [], []
    for r in range(runs):
        keys = _keys(r, n)
        t0 = time.perf_counter()
        changed = moves(three, four, keys)
        lookups.append(2 * n / (time.perf_counter() - t0))
        if any(m.new != "roost-3" for m in changed):
            raise RuntimeError("a key moved between two old members when a node joined")
        moved.append(len(changed) / n)
        spread3.append(_spread(3, keys))
        spread10.append(_spread(10, keys))
    builds = []
    for _ in range(5):
        t0 = time.perf_counter()
        Ring([f"roost-{i}" for i in range(10)])
        builds.append((time.perf_counter() - t0) * 1000)
    names3 = _spread_names(3, _keys(0, n // 4))
    names10 = _spread_names(10, _keys(0, n // 4))
    s = summary
    return {
        "keys": n,
        "vnodes": DEFAULT_VNODES,
        "moved_share_3_to_4": s(moved),
        "max_over_mean_3": s(spread3),
        "max_over_mean_10": s(spread10),
        "owner_lookups_per_s": s(lookups),
        "build_10_members_ms": s(builds),
        "names_keys": n // 4,
        "max_over_mean_3_worst_of_20_name_sets": max(names3),
        "max_over_mean_10_worst_of_20_name_sets": max(names10),
    }
