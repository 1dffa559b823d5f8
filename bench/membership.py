"""Membership benchmark: convergence of 3 and 10 local nodes, and crash detection time.

Every node is a real `SerfMembership` with its own `serf agent` on 127.0.0.1, LAN profile.

- converge: from calling `start()` on all N nodes at once (all seeded with node 1) until every
  node's view lists N members as `active` (each node publishes `active` right after its start);
- detect: a fresh 3-member cluster (two nodes and a victim agent, as in the acceptance check);
  the victim is killed with SIGKILL and we time until an observer's view marks it `failed`;
  repeated on fresh clusters, the median reported.

Run: ``python -m bench --only membership`` (its section of bench/RESULTS.md comes from `render`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import free_port
from roost.membership import (
    MemberStatus,
    MemberView,
    SerfAgent,
    SerfAgentError,
    SerfMembership,
    SerfSettings,
    gossip_key,
    rpc_token,
)

SECRET = "bench-membership-secret-0123456789"
SERF_BIN = os.environ.get("ROOST_SERF_BIN", "serf")
CRASH_RUNS = 5
CONVERGE_RUNS = 3


def _settings(node_id: str, port: int, seed: str) -> SerfSettings:
    return SerfSettings(
        node_id=node_id,
        gossip_bind=f"127.0.0.1:{port}",
        http_advertise=f"127.0.0.1:{port + 1}",
        seeds=(seed,),
        secret=SECRET,
        serf_bin=SERF_BIN,
        log_level="err",
    )


async def _until(node: SerfMembership, predicate: Callable[[MemberView], bool]) -> None:
    changed = asyncio.Event()
    node.subscribe(lambda _view: changed.set())
    async with asyncio.timeout(120):
        while not predicate(node.view):
            changed.clear()
            await changed.wait()


async def _cluster(n: int) -> tuple[list[SerfMembership], float]:
    first = free_port()
    seed = f"127.0.0.1:{first}"
    nodes = [SerfMembership(_settings("b1", first, seed))]
    nodes += [SerfMembership(_settings(f"b{i}", free_port(), seed)) for i in range(2, n + 1)]

    async def start(node: SerfMembership) -> None:
        await node.start()
        await node.set_status(MemberStatus.ACTIVE)

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(start(node) for node in nodes))
        await asyncio.gather(*(_until(node, lambda v: len(v.active_ids()) == n) for node in nodes))
    except BaseException:
        await asyncio.gather(*(node.stop() for node in nodes), return_exceptions=True)
        raise
    return nodes, time.perf_counter() - t0


async def _retrying(make: Callable[[], Awaitable[float]], attempts: int = 3) -> float:
    """Run one measurement again when a serf agent lost the race for its port (a free port we
    picked was taken by another process before serf bound it): that is not what we measure."""
    for attempt in range(attempts):
        try:
            return await make()
        except SerfAgentError as exc:
            if "address already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def converge(n: int) -> float:
    nodes, elapsed = await _cluster(n)
    await asyncio.gather(*(node.stop() for node in nodes))
    return elapsed


async def detect_crash(tmp: Path, run: int) -> float:
    """A fresh 3-member cluster (two nodes and a victim agent); time the victim's kill -9."""
    nodes, _ = await _cluster(2)
    observer = nodes[0]
    name = f"victim{run}"
    victim = SerfAgent(
        _settings(name, free_port(), observer.settings.seeds[0]),
        tmp / name,
        rpc_token=rpc_token(SECRET),
        keys=[gossip_key(SECRET)],
        tags=lambda: {"status": "active", "proto": "1"},
    )
    try:
        await victim.start()  # not supervised: a SIGKILL is final, like a node crash
        assert observer.client is not None and victim.pid is not None
        await observer.client.join([victim.settings.gossip_bind])
        await asyncio.gather(*(_until(n, lambda v: len(v.active_ids()) == 3) for n in nodes))
        os.kill(victim.pid, signal.SIGKILL)
        t0 = time.perf_counter()
        await _until(observer, lambda v: _status(v, name) == "failed")
        return time.perf_counter() - t0
    finally:
        await victim.stop()
        await asyncio.gather(*(node.stop() for node in nodes))


async def detect_crashes(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp:
        return [
            await _retrying(lambda i=i: detect_crash(Path(tempfile.mkdtemp(dir=tmp)), i))
            for i in range(runs)
        ]


def _status(view: MemberView, node: str) -> str | None:
    member = view.get(node)
    return str(member.status) if member else None


def _serf_version() -> str:
    out = subprocess.run([SERF_BIN, "version"], capture_output=True, text=True, check=False)
    version = out.stdout.splitlines()[0].strip() if out.stdout else "unknown"
    deb = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "serf"], capture_output=True, text=True, check=False
    )
    return f"{version} (Debian package {deb.stdout})" if deb.returncode == 0 else version


async def _run() -> dict[str, Any]:
    converge_3 = [await _retrying(lambda: converge(3)) for _ in range(CONVERGE_RUNS)]
    converge_10 = [await _retrying(lambda: converge(10)) for _ in range(CONVERGE_RUNS)]
    crash = await detect_crashes(CRASH_RUNS)
    s = SerfSettings(node_id="defaults")
    return {
        "converge_3_nodes_s": round(statistics.median(converge_3), 2),
        "converge_10_nodes_s": round(statistics.median(converge_10), 2),
        "converge_3_runs_s": [round(t, 2) for t in converge_3],
        "converge_10_runs_s": [round(t, 2) for t in converge_10],
        "crash_detect_median_s": round(statistics.median(crash), 2),
        "crash_detect_runs_s": [round(t, 2) for t in crash],
        "serf": {
            "version": _serf_version(),
            "profile": s.profile,
            "reconnect_interval_s": s.reconnect_interval,
            "reconnect_timeout_s": s.reconnect_timeout,
            "tombstone_timeout_s": s.tombstone_timeout,
            "reconcile_interval_s": s.reconcile_interval,
            "encrypted": True,
        },
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }


def run() -> dict[str, Any]:
    """Run the benchmark (about a minute) and return its numbers."""
    return asyncio.run(_run())


def render(result: dict[str, Any]) -> str:
    serf = result["serf"]

    def runs(key: str) -> str:
        return ", ".join(f"{t:.2f}" for t in result[key])

    crash = result["crash_detect_median_s"]

    return f"""## Membership (serf)

Every node is a `SerfMembership` running its own `serf agent` on 127.0.0.1 with encrypted
gossip.

- Converge: all N nodes are started at once (all seeded with node 1), each publishes `active`
  as soon as its `start()` returns; timed until every node's view shows N `active` members.
  Median of {len(result["converge_3_runs_s"])} fresh clusters.
- Crash: a fresh 3-member cluster (two nodes and one member's agent); that agent gets SIGKILL
  and we time until an observer's view marks it `failed`. Median of
  {len(result["crash_detect_runs_s"])} fresh clusters.

| measurement | median | runs |
|---|---|---|
| converge, 3 nodes | {result["converge_3_nodes_s"]:.2f} s | {runs("converge_3_runs_s")} |
| converge, 10 nodes | {result["converge_10_nodes_s"]:.2f} s | {runs("converge_10_runs_s")} |
| crash detection, 3 members | {crash:.2f} s | {runs("crash_detect_runs_s")} |

Serf: `{serf["version"]}`, profile `{serf["profile"]}`, i.e. Serf's LAN defaults for failure
detection (probe every 1 s, probe timeout 500 ms, suspicion multiplier 4 with Lifeguard,
gossip every 200 ms). Changed from Serf's defaults, none of which affect detection: reconnect
interval {serf["reconnect_interval_s"]:g} s, reconnect timeout {serf["reconnect_timeout_s"]:g} s,
tombstone timeout {serf["tombstone_timeout_s"]:g} s. The view also re-reads the agent's member
list every {serf["reconcile_interval_s"]:g} s, because the serf agent coalesces member events
(1 s quiet period, up to 3 s) and has no setting for it.
"""


def main() -> None:
    result = run()
    print(json.dumps(result, indent=2))
    print(render(result))


if __name__ == "__main__":
    main()
