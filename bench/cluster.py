"""Cluster figures on real `roost node` processes (loopback, serf, PostgreSQL):

- forwarding (Ray figure 5): a 2-node cluster; wrk on node A cycling over `tally` actors that
  node B owns (asked through A's GET /v1/cluster/owner), so every call is forwarded A -> B;
  the same actors called on B directly (no forwarding) alongside, interleaved;
- spread (Ray figure 6): a 3-node cluster, 1,000 `tally` actors; three wrk processes (-t1 each,
  one per node, run at once) every one cycling over all 1,000 actors, so 2 calls in 3 are
  forwarded (a client that does not know owners); and the owner-aware variant where each wrk
  calls only the actors its node owns. Rates are summed, p99 is the worst of the three;
- (the rolling restart, issue 5, is the `rolling` suite now: `bench.rolling`);
- handoff (issue 5): a 2-node cluster; 10,000 `tally` actors that node A owns are activated on A
  (dirty: written behind), then A gets SIGTERM. From A's log: seconds from SIGTERM until the
  last handoff line (all 10,000 flushed in one batch and their leases released), and how many
  each handoff line reports; then the whole drain (with serf leave) to process exit.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import Scale, cycling_lua, summarize_runs, summary, wrk, wrk_finish, wrk_start
from bench.nodes import Cluster, actor_path, owner
from roost.placement.ring import Ring


async def _post_all(base_urls: list[str], paths: list[str], concurrency: int = 64) -> float:
    """POST {"value": 1} to every path (spread over `base_urls`); returns calls/s."""
    import aiohttp

    queue = list(enumerate(paths))
    queue.reverse()
    headers = {"Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            i, path = queue.pop()
            url = base_urls[i % len(base_urls)] + path
            async with session.post(url, data=b'{"value": 1}', headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status} from {url}")

    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return len(paths) / (time.perf_counter() - t0)


def activate(base_urls: list[str], paths: list[str]) -> float:
    import uvloop

    return float(uvloop.run(_post_all(base_urls, paths)))


def forwarding(tmp: Path, seconds: float) -> dict[str, Any]:
    cluster = Cluster(2, tmp / "fwd")
    (tmp / "fwd").mkdir()
    try:
        cluster.start_all()
        a, b = cluster.nodes
        names: list[str] = []
        i = 0
        while len(names) < 200:
            name = f"fwd-{i}"
            if owner(a.url, name) == b.node_id:
                names.append(name)
            i += 1
        paths = [actor_path(n) for n in names]
        activate([b.url], paths)
        script = cycling_lua(paths)
        via_a, direct_b = [], []
        for _ in range(Scale.repeat):  # interleaved, so both see the same machine noise
            wrk(a.url + paths[0], 1, script=script)
            via_a.append(wrk(a.url + paths[0], seconds, script=script))
            direct_b.append(wrk(b.url + paths[0], seconds, script=script))
    finally:
        cluster.close()
    fwd, local = summarize_runs(via_a), summarize_runs(direct_b)
    return {
        "actors": len(paths),
        "forwarded": fwd,
        "owner_direct": local,
        "forwarded_share_of_direct": fwd["per_s"]["median"] / local["per_s"]["median"],
        "wrk": f"-t1 -c64 -d{seconds:g}s",
    }


def _spread_once(
    cluster: Cluster, per_node: list[list[str]], seconds: float, conns: int
) -> dict[str, float]:
    started = [
        wrk_start(n.url + paths[0], seconds, conns, cycling_lua(paths))
        for n, paths in zip(cluster.nodes, per_node, strict=True)
    ]
    results = [wrk_finish(s, seconds) for s in started]
    return {
        "per_s": sum(r["per_s"] for r in results),
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def spread(cluster: Cluster, seconds: float) -> dict[str, Any]:
    names = [f"spread-{i}" for i in range(1000)]
    paths = [actor_path(n) for n in names]
    activate([n.url for n in cluster.nodes], paths)
    ring = Ring([n.node_id for n in cluster.nodes])
    rng = random.Random(7)
    anywhere = [rng.sample(paths, len(paths)) for _ in cluster.nodes]
    owned = [[actor_path(x) for x in names if ring.owner("spawn-system", x) == n.node_id]
             for n in cluster.nodes]  # fmt: skip
    conns = 22  # about 64 connections in all, as in the single-node figures
    mixed, aware = [], []
    for _ in range(Scale.repeat):
        _spread_once(cluster, anywhere, 1, conns)  # warm up
        mixed.append(_spread_once(cluster, anywhere, seconds, conns))
        aware.append(_spread_once(cluster, owned, seconds, conns))
    return {
        "actors": len(paths),
        "any_node": summarize_runs(mixed),
        "owner_aware": summarize_runs(aware),
        "wrk": f"3 x (-t1 -c{conns} -d{seconds:g}s), one per node, at once",
    }


_HANDED = re.compile(r"handed off (\d+) activations")
_STOPPED = re.compile(r"stopped in ([\d.]+)s \(exit (\d+)\)")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _stamp(line: str) -> float:
    m = _STAMP.match(line)
    if not m:
        raise ValueError(f"no timestamp: {line!r}")
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _drain_log(text: str) -> tuple[list[int], float]:
    """Activations each handoff line reports, and seconds from SIGTERM to the last handoff that
    moved any (placement's rebalance and the drain's flush both log one; either may get them)."""
    lines = text.splitlines()
    start = next(_stamp(x) for x in lines if "SIGTERM: draining" in x)
    counts, last = [], start
    for x in lines:
        m = _HANDED.search(x)
        if m:
            counts.append(int(m.group(1)))
            if int(m.group(1)) > 0:
                last = _stamp(x)
    return counts, last - start


def handoff(tmp: Path, actors: int) -> dict[str, Any]:
    (tmp / "handoff").mkdir()
    cluster = Cluster(2, tmp / "handoff")
    drains, logged, handoff_s, activation = [], [], [], []
    handed: list[list[int]] = []
    try:
        cluster.start_all()
        a = cluster.nodes[0]
        ring = Ring([n.node_id for n in cluster.nodes])
        for run in range(Scale.repeat):
            names, i = [], 0
            while len(names) < actors:
                name = f"ho{run}-{i}"
                if ring.owner("spawn-system", name) == a.node_id:
                    names.append(name)
                i += 1
            activation.append(activate([a.url], [actor_path(n) for n in names]))
            size = a.log.stat().st_size
            drains.append(cluster.stop(0))
            text = a.log.read_bytes()[size:].decode(errors="replace")
            counts, to_handed = _drain_log(text)
            stopped = _STOPPED.findall(text)
            if not counts or not stopped or stopped[-1][1] != "0":
                raise RuntimeError(f"drain of {a.node_id} did not finish cleanly: {text[-800:]}")
            handed.append(counts)
            handoff_s.append(to_handed)
            logged.append(float(stopped[-1][0]))
            if run + 1 < Scale.repeat:
                cluster.start(0)
                cluster.wait_active(2)
    finally:
        cluster.close()
    return {
        "actors": actors,
        "handed_off": handed,
        "handed_off_all": all(sum(c) == actors for c in handed),
        "sigterm_to_handed_off_s": summary(handoff_s),
        "drain_s": summary(drains),
        "drain_logged_s": summary(logged),
        "activation_http_per_s": summary(activation),
    }


def run() -> dict[str, Any]:
    if shutil.which("wrk") is None or shutil.which("serf") is None:
        return {"skipped": "needs wrk and serf (make system-deps)"}
    seconds = Scale.pick(5, 2)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="roost-bench-cluster-") as d:
        tmp = Path(d)
        out["forwarding"] = forwarding(tmp, seconds)
        (tmp / "three").mkdir()
        cluster = Cluster(3, tmp / "three")
        try:
            cluster.start_all()
            out["spread"] = spread(cluster, seconds)
        finally:
            cluster.close()
        out["handoff"] = handoff(tmp, Scale.pick(10_000, 2_000))
    return out
