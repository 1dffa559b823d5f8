"""Client latency during a rolling restart of every node of a running cluster (issue 5).

16 asyncio clients keep calling `add` on 200 `counter` actors (durability `sync`: every
acknowledged call is in PostgreSQL before the reply), spreading calls over all nodes. Each node
in turn gets SIGTERM, drains, exits, is started again and rejoins; the next node follows once
every node sees all members active. Clients open a new connection per call (no stale keep-alive
connections to a restarted node); a refused connection is re-sent to the next node, like a load
balancer dropping an unready pod (counted as `rerouted`, its latency included); so is a 503
`unavailable` (a node starting or draining: Roost answers 503 only for calls it did not run, so
re-sending is safe; counted as `retried_503`). Anything else is an error: another HTTP error
status, or a connection lost after the call was sent (`unknown`: it may or may not have been
applied). At the end every counter's total is checked against the
acknowledged calls.

Two loads (issue 23: drain time must not grow with the load): the default, 16 clients opening a
new connection per call, and a heavier one, 32 clients each keeping its connection alive (as
SDKs, proxies and load balancers do; such clients used to hold a draining node open until its
drain timeout). Each node's drain (SIGTERM to exit) is recorded, with its p50 and max per run.
`python -m bench --only rolling` runs this alone (its own suite and results/rolling.json).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Scale, percentiles, summarize_runs, summary
from bench.nodes import SYSTEM, Cluster, actor_path

CLIENTS = 16
COUNTERS = 200
# (name, clients, keep-alive connections)
LOADS = (("default", CLIENTS, False), ("heavy", 2 * CLIENTS, True))


async def _one_restart(
    cluster: Cluster, run: int, clients: int = CLIENTS, keep_alive: bool = False, tag: str = "rr"
) -> dict[str, Any]:
    import aiohttp

    names = [f"{tag}{run}-{k}" for k in range(COUNTERS)]
    acked = dict.fromkeys(names, 0)
    unknown = dict.fromkeys(names, 0)
    samples: list[tuple[float, float]] = []  # (start time, latency)
    counts = {"errors": 0, "unknown": 0, "rerouted": 0, "retried_503": 0}
    stop = asyncio.Event()
    urls = [n.url for n in cluster.nodes]
    body, headers = b'{"value": 1}', {"Content-Type": "application/json"}

    async def client(c: int, session: aiohttp.ClientSession) -> None:
        rng = random.Random(c)
        i = c
        while not stop.is_set():
            name = rng.choice(names)
            t0 = time.perf_counter()
            for attempt in range(len(urls) * 3):
                url = urls[(i + attempt) % len(urls)] + actor_path(name, "counter")
                try:
                    async with session.post(url, data=body, headers=headers) as r:
                        await r.read()
                        ok = r.status == 200
                    if r.status != 503:
                        break
                    counts["retried_503"] += 1  # not run (starting, draining): safe to re-send
                    await asyncio.sleep(0.01 * attempt)
                except aiohttp.ClientConnectorError:
                    counts["rerouted"] += 1
                    await asyncio.sleep(0.01 * attempt)
                except (aiohttp.ClientError, TimeoutError):
                    ok = None
                    break
            else:
                ok = False
            i += 1
            if ok:
                acked[name] += 1
                samples.append((t0, time.perf_counter() - t0))
            elif ok is None:
                counts["unknown"] += 1
                unknown[name] += 1
            else:
                counts["errors"] += 1

    timeout = aiohttp.ClientTimeout(total=30)
    # keep-alive: one session (one pooled connection per node) for each client
    own = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit_per_host=1), timeout=timeout)
        for _ in range(clients if keep_alive else 0)
    ]
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [
            asyncio.create_task(client(c, own[c] if keep_alive else session))
            for c in range(clients)
        ]
        await asyncio.sleep(2.0)  # steady state before the first SIGTERM
        begin = time.perf_counter()
        drains = []
        for i in range(len(cluster.nodes)):
            drains.append(await asyncio.to_thread(cluster.stop, i))
            await asyncio.to_thread(cluster.start, i)
            await asyncio.to_thread(cluster.wait_active, len(cluster.nodes))
        end = time.perf_counter()
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
        for o in own:
            await o.close()
        exact = await _check_totals(session, urls[0], acked, unknown)
    during = [lat for t, lat in samples if begin <= t <= end]
    before = [lat for t, lat in samples if t < begin]
    p = percentiles(during)
    return {
        "p50_ms": p["p50_ms"],
        "p99_ms": p["p99_ms"],
        "max_ms": p["max_ms"],
        "steady_p99_ms": percentiles(before)["p99_ms"],
        "calls": float(len(during)),
        "per_s": len(during) / (end - begin),
        "errors": float(counts["errors"]),
        "unknown": float(counts["unknown"]),
        "rerouted": float(counts["rerouted"]),
        "retried_503": float(counts["retried_503"]),
        "restart_s": end - begin,
        "drain_s_p50": statistics.median(drains),
        "drain_s_max": max(drains),
        "drains_s": [round(d, 2) for d in drains],  # per node, in restart order
        "totals_exact": 1.0 if exact else 0.0,
    }


async def _check_totals(
    session: Any, url: str, acked: dict[str, int], unknown: dict[str, int]
) -> bool:
    """Every acknowledged add is in the total; an unknown-outcome add may or may not be."""
    for name, n in acked.items():
        path = f"/v1/systems/{SYSTEM}/actors/{name}/actions/get?parent=counter"
        async with session.post(url + path) as r:
            total = (await r.json())["total"] if r.status == 200 else -1
        if not n <= total <= n + unknown[name]:
            return False
    return True


def rolling_restart(
    cluster: Cluster, clients: int = CLIENTS, keep_alive: bool = False, tag: str = "rr"
) -> dict[str, Any]:
    import uvloop

    runs = [
        uvloop.run(_one_restart(cluster, r, clients, keep_alive, tag)) for r in range(Scale.repeat)
    ]
    per_node = [r.pop("drains_s") for r in runs]
    out: dict[str, Any] = summarize_runs(runs)
    out["clients"] = clients
    out["keep_alive"] = keep_alive
    out["counters"] = COUNTERS
    out["drains_s"] = per_node
    out["all_totals_exact"] = all(r["totals_exact"] == 1.0 for r in runs)
    out["errors_total"] = sum(r["errors"] for r in runs)
    out["restart_s"] = summary([r["restart_s"] for r in runs])
    return out


def run() -> dict[str, Any]:
    """The `rolling` suite: a 3-node cluster restarted in turn under each of `LOADS`."""
    if shutil.which("serf") is None:
        return {"skipped": "needs serf (make system-deps)"}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="roost-bench-rolling-") as d:
        cluster = Cluster(3, Path(d))
        try:
            cluster.start_all()
            for name, clients, keep_alive in LOADS:
                out[name] = rolling_restart(cluster, clients, keep_alive, tag=f"rr-{name}-")
        finally:
            cluster.close()
    return out
