"""Cluster figures on real `roost node` processes (loopback, serf, PostgreSQL):

- forwarding (Ray figure 5): a 2-node cluster; wrk on node A cycling over `tally` actors that
  node B owns (asked through A's GET /v1/cluster/owner), so every call is forwarded A -> B;
  the same actors called on B directly (no forwarding) alongside, interleaved;
- spread (Ray figure 6): a 3-node cluster, 1,000 `tally` actors; three wrk processes (-t1 each,
  one per node, run at once) every one cycling over all 1,000 actors, so 2 calls in 3 are
  forwarded (a client that does not know owners); and the owner-aware variant where each wrk
  calls only the actors its node owns. Rates are summed, p99 is the worst of the three. The same
  with Roost's Python `Client` (`bench.pyclient`, one process per node, 22 callers each): owner-
  aware over all actors, plain (`owner_aware=False`) over all actors through its node, and plain
  over the actors its node owns (owner-direct by construction), side by side;
- (the rolling restart, issue 5, is the `rolling` suite now: `bench.rolling`);
- handoff (issue 5): a 2-node cluster; 10,000 `tally` actors that node A owns are activated on A
  (dirty: written behind), then A gets SIGTERM. From A's log: seconds from SIGTERM until the
  last handoff line (all 10,000 flushed in one batch and their leases released), and how many
  each handoff line reports; then the whole drain (with serf leave) to process exit.

ROOST_BENCH_CLUSTER=forwarding,spread (a comma list of forwarding, spread, handoff)
runs only those parts; the others keep their figures from the last results/cluster.json, and
`parts_run` says which ones this run measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Scale,
    cpu_seconds,
    cycling_lua,
    summarize_runs,
    summary,
    wrk,
    wrk_finish,
    wrk_start,
)
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
                body = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status} from {url}: {body[:300]!r}")

    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return len(paths) / (time.perf_counter() - t0)


def activate(base_urls: list[str], paths: list[str]) -> float:
    import uvloop

    return float(uvloop.run(_post_all(base_urls, paths)))


def _cpu(cluster: Cluster) -> float:
    return sum(cpu_seconds(n.proc.pid) for n in cluster.nodes if n.proc is not None)


def _with_cpu(cluster: Cluster, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """A wrk figure plus every node's CPU per call over it (all nodes together, in us): unlike
    calls/s it hardly moves with what else the shared machine runs."""
    c0 = _cpu(cluster)
    result = measure()
    result["cpu_us_per_call"] = (_cpu(cluster) - c0) / max(1.0, result["requests"]) * 1e6
    return result


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
            via_a.append(_with_cpu(cluster, lambda: wrk(a.url + paths[0], seconds, script=script)))
            direct_b.append(
                _with_cpu(cluster, lambda: wrk(b.url + paths[0], seconds, script=script))
            )
    finally:
        cluster.close()
    fwd, local = summarize_runs(via_a), summarize_runs(direct_b)
    ratios = [x["per_s"] / y["per_s"] for x, y in zip(via_a, direct_b, strict=True)]
    return {
        "actors": len(paths),
        "forwarded": fwd,
        "owner_direct": local,
        "forwarded_share_of_direct": fwd["per_s"]["median"] / local["per_s"]["median"],
        "share_per_run": ratios,  # each run's pair, measured back to back
        # the rate a forwarded call would reach where CPU is the limit: direct / forwarded CPU
        "cpu_share": local["cpu_us_per_call"]["median"] / fwd["cpu_us_per_call"]["median"],
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
        "requests": sum(r["requests"] for r in results),
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def _py_spread_once(
    cluster: Cluster, per_node: list[list[str]], seconds: float, conns: int, aware: bool, tmp: Path
) -> dict[str, float]:
    """One `bench.pyclient` process per node (its seed), all measuring the same seconds."""
    start_at = time.time() + 4  # past every process's start-up and ring fetch
    procs = []
    for i, (node, names) in enumerate(zip(cluster.nodes, per_node, strict=True)):
        actors = tmp / f"actors-{i}.json"
        actors.write_text(json.dumps(names))
        args = [sys.executable, "-m", "bench.pyclient", "--url", node.url, "--actors",
                str(actors), "--seconds", str(seconds), "--conns", str(conns),
                "--start-at", str(start_at)] + (["--aware"] if aware else [])  # fmt: skip
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 90)
        if proc.returncode != 0:
            raise RuntimeError(f"bench.pyclient failed: {err.decode()[-800:]}")
        results.append(json.loads(out))
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
    owned_names = [[p.split("/")[5] for p in paths_of] for paths_of in owned]
    any_names = [[p.split("/")[5] for p in paths_of] for paths_of in anywhere]
    conns = 22  # about 64 connections in all, as in the single-node figures
    mixed, aware, py_aware, py_plain, py_direct = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="roost-bench-py-") as d:
        tmp = Path(d)
        for _ in range(Scale.repeat):
            _spread_once(cluster, anywhere, 1, conns)  # warm up
            mixed.append(
                _with_cpu(cluster, lambda: _spread_once(cluster, anywhere, seconds, conns))
            )
            aware.append(_with_cpu(cluster, lambda: _spread_once(cluster, owned, seconds, conns)))
            py_aware.append(_py_spread_once(cluster, any_names, seconds, conns, True, tmp))
            py_plain.append(_py_spread_once(cluster, any_names, seconds, conns, False, tmp))
            py_direct.append(_py_spread_once(cluster, owned_names, seconds, conns, False, tmp))
    any_node, owner_aware = summarize_runs(mixed), summarize_runs(aware)
    out: dict[str, Any] = {
        "actors": len(paths),
        "any_node": any_node,
        "owner_aware": owner_aware,
        "any_node_share_of_owner_aware": any_node["per_s"]["median"]
        / owner_aware["per_s"]["median"],
        "share_per_run": [x["per_s"] / y["per_s"] for x, y in zip(mixed, aware, strict=True)],
        "cpu_share": owner_aware["cpu_us_per_call"]["median"]
        / any_node["cpu_us_per_call"]["median"],
        "py_owner_aware": summarize_runs(py_aware),
        "py_any_node": summarize_runs(py_plain),
        "py_owner_direct": summarize_runs(py_direct),
        "wrk": f"3 x (-t1 -c{conns} -d{seconds:g}s), one per node, at once",
        "pyclient": f"3 x bench.pyclient ({conns} callers, {seconds:g} s), one per node, at once",
    }
    med = {k: out[k]["per_s"]["median"] for k in ("any_node", "owner_aware", "py_owner_aware",
                                                  "py_any_node", "py_owner_direct")}  # fmt: skip
    out["any_node_share_of_owner_direct"] = med["any_node"] / med["owner_aware"]
    out["py_owner_aware_share_of_owner_direct"] = med["py_owner_aware"] / med["py_owner_direct"]
    out["py_any_node_share_of_owner_direct"] = med["py_any_node"] / med["py_owner_direct"]
    return out


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
        # >=: the node also hands off the named actors it warmed up at start (issue 19)
        "handed_off_all": all(sum(c) >= actors for c in handed),
        "sigterm_to_handed_off_s": summary(handoff_s),
        "drain_s": summary(drains),
        "drain_logged_s": summary(logged),
        "activation_http_per_s": summary(activation),
    }


def run() -> dict[str, Any]:
    if shutil.which("wrk") is None or shutil.which("serf") is None:
        return {"skipped": "needs wrk and serf (make system-deps)"}
    seconds = Scale.pick(5, 2)
    parts = os.environ.get("ROOST_BENCH_CLUSTER", ",".join(PARTS)).split(",")
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"ROOST_BENCH_CLUSTER: unknown part(s) {sorted(unknown)}; of {PARTS}")
    out = _earlier(parts)
    out["parts_run"] = [p for p in PARTS if p in parts]
    with tempfile.TemporaryDirectory(prefix="roost-bench-cluster-") as d:
        tmp = Path(d)
        if "forwarding" in parts:
            out["forwarding"] = forwarding(tmp, seconds)
        if "spread" in parts:
            (tmp / "three").mkdir()
            cluster = Cluster(3, tmp / "three")
            try:
                cluster.start_all()
                out["spread"] = spread(cluster, seconds)
            finally:
                cluster.close()
        if "handoff" in parts:
            out["handoff"] = handoff(tmp, Scale.pick(10_000, 2_000))
    return out


PARTS = ("forwarding", "spread", "handoff")
_KEYS = {"forwarding": "forwarding", "spread": "spread", "handoff": "handoff"}


def _earlier(parts: list[str]) -> dict[str, Any]:
    """The last run's figures of the parts not run now (a partial run keeps them)."""
    path = ROOT / "bench" / "results" / "cluster.json"
    if set(parts) >= set(PARTS) or not path.exists():
        return {}
    old = json.loads(path.read_text())
    return {_KEYS[p]: old[_KEYS[p]] for p in PARTS if p not in parts and _KEYS[p] in old}
