"""The 60-second soak (issue 12): one real node under twice its measured capacity from wrk.

The speed and memory targets (health within 100 ms, RSS growth under 10 %, full rate after) are
benchmark figures (`make soak`, bench/RESULTS.md), not asserted here on a shared, noisy box. What
this asserts can only hold with working backpressure: the excess is shed with 429 and
Retry-After at once, nothing is a 5xx, health never stops answering, memory does not run away
(an unbounded queue would), and the node serves 200s again once the load drops.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import need

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_node_at_twice_its_capacity_sheds_and_recovers() -> None:
    need(shutil.which("wrk") is not None, "wrk is not installed (apt-get install wrk)")
    from bench.soak import soak

    r = soak(overload_s=36, capacity_s=8, recovery_s=8)
    o, h, c = r["overload"], r["health"], r["probe_calls"]
    assert r["node_alive"], r["node_log_tail"]
    assert r["capacity_per_s"] > 0
    assert o["shed"] > 0, f"no 429 at {r['offered_ratio']:.2f}x capacity: {o}"
    assert o["not_shed"] == 0, f"non-2xx answers that were not sheds: {o}"
    assert c["429"] > 0 and c["no_retry_after"] == 0, c
    assert c["5xx"] == 0, c
    assert o["ok"] > 0, "nothing served while overloaded"
    assert h["failed"] == 0, f"/healthz failed during overload: {h['failures']}"
    assert h["probes"] >= 20
    # a leak guard only (the 10 % target is measured by `make soak`): an unbounded mailbox or
    # in-flight queue at 2x capacity grows by far more than this in half a minute
    assert r["rss"]["growth"] < 0.5, r["rss"]
    recovered, capacity = r["recovery_per_s"], r["capacity_per_s"]
    assert recovered > 0.3 * capacity, (recovered, capacity)
