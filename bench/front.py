"""The HTTP front door under overload (issue 18): goodput past the bound, probes in a flood.

- goodput: one `roost node` (SQLite, 1,000 `sync` `counter` actors, `--max-inflight 32`), wrk
  unpaced (it re-sends at once and ignores Retry-After) with 32 connections (the bound: the
  node is saturated and refuses nothing), then 2x and 4x that. Served calls/s are wrk's
  replies minus its non-2xx; the figure is each overload's served rate over the capacity's.
- probes: one `roost node` (1,000 `tally` actors, `--max-inflight 8`, `--probe-http`) under a
  200-connection wrk flood; a prober opens a fresh connection per `/healthz` every 0.1 s, on the
  probe port and on the API port in turn, and times the whole exchange.

Each figure is the median of `Scale.repeat` runs (3). `python -m bench --only front`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Scale,
    cycling_lua,
    free_port,
    percentiles,
    stop,
    summary,
    wait_http,
    wrk,
)
from bench.core import TALLY_PATHS

CAPACITY_CONNECTIONS = 32
MAX_INFLIGHT = 32
COUNTER_PATHS = [
    f"/v1/systems/spawn-system/actors/g{i}/actions/add?parent=counter" for i in range(1000)
]
FLOOD_CONNECTIONS = 200
FLOOD_MAX_INFLIGHT = 8
PROBE_EVERY = 0.1


def _node(
    tmp: str, port: int, actors: str, max_inflight: int, *extra: str
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ROOST_STATESTORE_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="}
    args = [
        sys.executable, "-m", "roost", "node", "--node-id", "front",
        "--http", f"127.0.0.1:{port}", "--proxy-http", "off",
        "--statestore", f"sqlite:///{Path(tmp) / f'front-{port}.db'}",
        "--actors", actors, "--max-inflight", str(max_inflight), "--log-level", "error", *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/readyz", proc)
    return proc


def _served(r: dict[str, float]) -> float:
    n = r.get("requests", 0.0)
    return r["per_s"] * (1.0 - r["errors"] / n) if n else 0.0


def bench_goodput(seconds: float | None = None) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed"}
    seconds = seconds or Scale.pick(5, 2)
    script = cycling_lua(COUNTER_PATHS)
    levels = (1, 2, 4)
    served: dict[int, list[float]] = {k: [] for k in levels}
    replies: dict[int, list[float]] = {k: [] for k in levels}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(Scale.repeat):
            port = free_port()
            proc = _node(tmp, port, "examples.counters:Counter", MAX_INFLIGHT)
            url = f"http://127.0.0.1:{port}/"
            try:
                wrk(url, 2, CAPACITY_CONNECTIONS, script)  # activates the actors
                for k in levels:
                    r = wrk(url, seconds, CAPACITY_CONNECTIONS * k, script)
                    served[k].append(_served(r))
                    replies[k].append(r["per_s"])
            finally:
                stop(proc)
    cap = summary(served[1])
    out: dict[str, Any] = {
        "max_inflight": MAX_INFLIGHT,
        "seconds": seconds,
        "levels": {
            str(CAPACITY_CONNECTIONS * k): {
                "served_per_s": summary(served[k]),
                "replies_per_s": summary(replies[k]),
            }
            for k in levels
        },
    }
    for k in levels[1:]:
        out[f"ratio_{k}x"] = summary(served[k])["median"] / cap["median"] if cap["median"] else 0
    return out


class _Prober:
    """A fresh connection per probe; each probe's whole exchange timed (s)."""

    def __init__(self, targets: dict[str, int]) -> None:
        self.targets = targets
        self.times: dict[str, list[float]] = {k: [] for k in targets}
        self.failed: dict[str, int] = dict.fromkeys(targets, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _probe(self, port: int) -> float:
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(data[:80])
        return time.perf_counter() - t0

    def _loop(self) -> None:
        while not self._stop.wait(PROBE_EVERY):
            for name, port in self.targets.items():
                try:
                    self.times[name].append(self._probe(port))
                except (OSError, RuntimeError):
                    self.failed[name] += 1

    def __enter__(self) -> _Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_probes(seconds: float | None = None) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed"}
    seconds = seconds or Scale.pick(10, 3)
    script = cycling_lua(TALLY_PATHS)
    runs: dict[str, list[dict[str, float]]] = {"probe_port": [], "api_port": []}
    failed = {"probe_port": 0, "api_port": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(Scale.repeat):
            port, probe = free_port(), free_port()
            proc = _node(
                tmp, port, "examples.counters:Tally", FLOOD_MAX_INFLIGHT,
                "--probe-http", f"127.0.0.1:{probe}",
            )  # fmt: skip
            try:
                wrk(f"http://127.0.0.1:{port}/", 1, 32, script)
                flood = subprocess.Popen(
                    ["wrk", "-t1", f"-c{FLOOD_CONNECTIONS}", f"-d{seconds + 1}s", "-s",
                     _lua_file(tmp, script), f"http://127.0.0.1:{port}/"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(0.5)  # the flood is on
                with _Prober({"probe_port": probe, "api_port": port}) as prober:
                    time.sleep(seconds)
                flood.wait()
            finally:
                stop(proc)
            for name, times in prober.times.items():
                runs[name].append({**percentiles(times), "n": float(len(times))})
                failed[name] += prober.failed[name]
    return {
        "flood_connections": FLOOD_CONNECTIONS,
        "max_inflight": FLOOD_MAX_INFLIGHT,
        "seconds": seconds,
        "failed": failed,
        **{
            name: {
                "p50_ms": summary([r["p50_ms"] for r in rs]),
                "p99_ms": summary([r["p99_ms"] for r in rs]),
                "max_ms": summary([r["max_ms"] for r in rs]),
                "probes": sum(int(r["n"]) for r in rs),
            }
            for name, rs in runs.items()
        },
    }


def _lua_file(tmp: str, script: str) -> str:
    path = Path(tmp) / "flood.lua"
    path.write_text(script)
    return str(path)


def run() -> dict[str, Any]:
    return {"goodput": bench_goodput(), "probes": bench_probes()}


def render(r: dict[str, Any]) -> str:
    from bench.report import f

    g, p = r.get("goodput", {}), r.get("probes", {})
    lines = [
        "## The HTTP front door under overload (issue 18)",
        "",
        f"Goodput: one `roost node`, SQLite, 1,000 `sync` `counter` actors, `--max-inflight "
        f"{g.get('max_inflight')}`; wrk `-t1`, unpaced, {g.get('seconds')} s per level, "
        "cycling over the actors. Served = replies minus non-2xx.",
        "",
        "| wrk connections | served calls/s | all replies/s |",
        "|---|---|---|",
    ]
    for conns, lv in (g.get("levels") or {}).items():
        lines.append(
            f"| {conns} | {f(lv['served_per_s'], '/s')} | {f(lv['replies_per_s'], '/s')} |"
        )
    lines += [
        "",
        f"Probes: one `roost node` (1,000 `tally` actors, `--max-inflight {p.get('max_inflight')}`,"
        f" `--probe-http`) under a {p.get('flood_connections')}-connection wrk flood for "
        f"{p.get('seconds')} s; `GET /healthz` on a fresh connection every 0.1 s, on each port.",
        "",
        "| port | p50 | p99 | max | probes (failed) |",
        "|---|---|---|---|---|",
    ]
    for name in ("probe_port", "api_port"):
        s = p.get(name)
        if s:
            lines.append(
                f"| {name.replace('_', ' ')} | {f(s['p50_ms'], ' ms', 1)} | "
                f"{f(s['p99_ms'], ' ms', 1)} | {f(s['max_ms'], ' ms', 1)} | "
                f"{s['probes']} ({p['failed'][name]}) |"
            )
    r2, r4 = g.get("ratio_2x"), g.get("ratio_4x")
    p99 = (p.get("probe_port") or {}).get("p99_ms")
    lines += [
        "",
        "| target (issue 18) | measured (median) | goal | verdict |",
        "|---|---|---|---|",
        _verdict("goodput at 2x the saturating connections / capacity", r2, 0.8),
        _verdict("goodput at 4x / capacity", r4, 0.8),
        "| /healthz p99 during the flood, probe port | "
        + ("n/a" if p99 is None else f"{p99['median']:.1f} ms")
        + " | < 50 ms | "
        + ("n/a" if p99 is None else ("met" if p99["median"] < 50 else "**not met**"))
        + " |",
        "",
    ]
    return "\n".join(lines)


def _verdict(name: str, value: float | None, goal: float) -> str:
    if value is None:
        return f"| {name} | n/a | >= {goal}x | n/a |"
    return f"| {name} | {value:.2f}x | >= {goal}x | {'met' if value >= goal else '**not met**'} |"


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
