"""Placement figures from the pure ring (`roost.placement.ring`), as every node computes it:

- moved: share of 100,000 actor keys whose owner changes when a 4th node joins 3 (ideal 25%);
- spread: max/mean actors per node over 100,000 keys with 3 and with 10 nodes (ideal 1.0).

Default vnodes (160), node ids as a StatefulSet names them. Each figure is taken over 3
different key sets (the "runs"); the ring itself is deterministic.
"""

from __future__ import annotations

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
    s = summary
    return {
        "keys": n,
        "vnodes": DEFAULT_VNODES,
        "moved_share_3_to_4": s(moved),
        "max_over_mean_3": s(spread3),
        "max_over_mean_10": s(spread10),
        "owner_lookups_per_s": s(lookups),
    }
