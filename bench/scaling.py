"""CPU per call as the cluster grows (issue 17): 1, 3, 5 and 10 real `roost node` processes on
loopback (serf, PostgreSQL), 1,000 `tally` actors, one wrk per node (about 48 connections in all):

- plain clients: each wrk cycles over all actors in its own order, so with N nodes (N-1)/N of
  the calls reach a node that does not own the actor and are forwarded;
- owner-aware clients: each wrk cycles over the actors its node owns by the ring the cluster
  serves (GET /v1/cluster/ring, read with the clients' `ClientRing`): exactly the calls an
  owner-aware client sends.

CPU per call = CPU seconds of every Roost process (the nodes and their serf agents) during the
run / calls answered. Unlike calls/s it hardly moves with what else the shared box is doing.
The cluster's idle CPU (no calls, for 3 s) is measured too: fixed costs that a busy node spreads
over many calls and a 10-node cluster on 2 cores spreads over few.

The control ("N solo nodes"): N single-node clusters that know nothing of each other (each its
own serf agent and statestore schema), each driven like one member of the owner-aware run (the
same connections, 1,000/N actors). They do exactly the work of the owner-aware cluster minus
everything a cluster adds (gossip with peers, a ring of N, leases shared through one schema), so
owner-aware / solo is what clustering costs, and solo / one node is what running N processes on
this 2-core box costs whatever they are.
Each size is measured `Scale.repeat` times, plain, owner-aware and solo interleaved (both sets of
processes stay up, the idle one costing about 1% of the box); medians are reported and compared
with one node's (on one node both kinds are the same setup, nothing to forward, so the baseline
is the mean of its two medians).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cluster import activate
from bench.common import Scale, cpu_seconds, cycling_lua, summary, wrk_finish, wrk_start
from bench.nodes import SYSTEM, Cluster, NodeProc, actor_path, get_json
from roost.node.clientring import ClientRing

SIZES = (1, 3, 5, 10)
# PostgreSQL connections per node: 10 cluster nodes and 10 solo nodes at the default 10 each
# would pass the server's default max_connections (100). The same for every node of the suite.
POOL_SIZE = 3
CONNECTIONS = 48
IDLE_S = 3.0


def _descendants(pids: list[int]) -> list[int]:
    """The processes and all their descendants (a node's serf agent)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    out, todo = set(pids), list(pids)
    while todo:
        p = todo.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in out:
                out.add(child)
                todo.append(child)
    return sorted(out)


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            total += cpu_seconds(p)
        except OSError:
            continue
    return total


def _once(
    nodes: list[NodeProc], per_node: list[list[str]], seconds: float, pids: list[int]
) -> dict[str, float]:
    conns = max(2, CONNECTIONS // len(nodes))
    c0 = _cpu(pids)
    started = [
        wrk_start(n.url + paths[0], seconds, conns, cycling_lua(paths))
        for n, paths in zip(nodes, per_node, strict=True)
    ]
    results = [wrk_finish(s, seconds) for s in started]
    cpu = _cpu(pids) - c0
    calls = sum(r["requests"] for r in results)
    return {
        "cpu_ms_per_call": cpu / max(1.0, calls) * 1000,
        "per_s": sum(r["per_s"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def _solos(tmp: Path, n: int) -> list[Cluster]:
    """N single-node clusters, started (the control; see the module docstring)."""
    solos = []
    try:
        for i in range(n):
            (tmp / f"solo{n}-{i}").mkdir()
            solo = Cluster(1, tmp / f"solo{n}-{i}", pool_size=POOL_SIZE)
            solo.nodes[0].node_id = f"bench-solo{i + 1}"
            solos.append(solo)
            solo.start(0, wait=False)
        for solo in solos:
            solo.wait_ready(solo.nodes[0])
            solo.wait_active(1)
    except BaseException:
        for solo in solos:
            solo.close()
        raise
    return solos


def size(tmp: Path, n: int, seconds: float) -> dict[str, Any]:
    (tmp / f"n{n}").mkdir()
    cluster = Cluster(n, tmp / f"n{n}", pool_size=POOL_SIZE)
    solos: list[Cluster] = []
    try:
        t0 = time.monotonic()
        cluster.start_all()
        started_s = time.monotonic() - t0
        names = [f"scale{n}-{i}" for i in range(1000)]
        paths = [actor_path(x) for x in names]
        activate([x.url for x in cluster.nodes], paths)
        ring = ClientRing(get_json(cluster.nodes[0].url + "/v1/cluster/ring"), "http")
        rng = random.Random(n)
        anywhere = [rng.sample(paths, len(paths)) for _ in cluster.nodes]
        owner = ring.ring_for(SYSTEM).owner
        owned = [[actor_path(x) for x in names if owner(SYSTEM, x) == node.node_id]
                 for node in cluster.nodes]  # fmt: skip
        pids = _descendants([x.proc.pid for x in cluster.nodes if x.proc is not None])
        if n > 1:
            solos = _solos(tmp, n)
            solo_nodes = [s.nodes[0] for s in solos]
            solo_paths = [[actor_path(f"solo{n}-{i}-{k}") for k in range(1000 // n)]
                          for i in range(n)]  # fmt: skip
            for node, own in zip(solo_nodes, solo_paths, strict=True):
                activate([node.url], own)
            solo_pids = _descendants([x.proc.pid for x in solo_nodes if x.proc is not None])
            _once(solo_nodes, solo_paths, 1, solo_pids)  # warm up
        _once(cluster.nodes, anywhere, 1, pids)  # warm up
        c0, t0 = _cpu(pids), time.monotonic()
        time.sleep(IDLE_S)  # what the cluster burns with no calls: gossip, lease renewals, sweeps
        idle = (_cpu(pids) - c0) / (time.monotonic() - t0)
        plain, aware, solo = [], [], []
        for _ in range(Scale.repeat):
            plain.append(_once(cluster.nodes, anywhere, seconds, pids))
            aware.append(_once(cluster.nodes, owned, seconds, pids))
            if solos:
                solo.append(_once(solo_nodes, solo_paths, seconds, solo_pids))
    finally:
        cluster.close()
        for s in solos:
            s.close()
    out: dict[str, Any] = {
        "nodes": n,
        "start_s": round(started_s, 1),
        "processes": len(pids),
        "idle_cpu_per_s": idle,
    }
    for name, runs in (("plain", plain), ("owner_aware", aware), ("solo", solo)):
        if not runs:
            continue
        out[name] = {k: summary([r[k] for r in runs]) for k in runs[0]}
        out[name]["runs"] = runs
    return out


def run() -> dict[str, Any]:
    if shutil.which("wrk") is None or shutil.which("serf") is None:
        return {"skipped": "needs wrk and serf (make system-deps)"}
    seconds = Scale.pick(3, 1)
    out: dict[str, Any] = {"seconds": seconds, "connections": CONNECTIONS, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="roost-bench-scaling-") as d:
        for n in SIZES:
            out["sizes"][str(n)] = size(Path(d), n, seconds)
    return out
