"""Soak: one node under sustained load twice its measured capacity (issue 12).

Against one real `roost node`: SQLite, 1,000 `counter` actors (`durability = "sync"`, so every
turn awaits its write and calls pile up in the node), and a small `--max-inflight` so that the
bound is what sheds, not the kernel's accept queue.

1. capacity: wrk, closed loop, enough connections to saturate the node; capacity = 200s per s.
2. overload: wrk with more connections than the bound, as many as offer about twice the
   capacity (`calibrate`), for `overload_s`. Meanwhile a
   prober GETs /healthz every 0.2 s (its latency is the "stays responsive" figure) and the
   node's RSS is read from /proc every second ("memory stays flat": growth from the end of the
   warm-up, the first quarter of the phase, to the end).
3. recovery: the capacity run again; its rate against the first one.

wrk's own counters cannot tell a 429 from a 500, and a Lua `response()` callback to count them
would make wrk the bottleneck; so every non-2xx wrk saw must be a shed the node counted
(`roost_shed_total`), and the prober's own calls check Retry-After and 5xx directly.

    make soak                                  # ROOST_SOAK_SECONDS of overload (default 300)
    python -m bench --only soak                # the same suite with the bench's duration
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, Scale, free_port, parse_wrk, stop, wait_http

ACTORS = 1000
MAX_INFLIGHT = 64  # the node's bound
CAPACITY_CONNECTIONS = 32  # saturates one node on 2 cores without crossing the bound
OVERLOAD_CONNECTIONS = (80, 96, 128, 192, 256)  # tried in turn; the one nearest 2x is used
HEALTH_EVERY = 0.2
HEALTH_TIMEOUT = 2.0
PATH = "/v1/systems/spawn-system/actors/soak-{i}/actions/add?parent=counter"
PATHS = [PATH.format(i=i) for i in range(ACTORS)]


def lua(delay_ms: float | None) -> str:
    """POST {"value": 1} to the actors in turn, optionally pacing each connection. No
    `response()` callback: with one, wrk builds a Lua table of every reply's headers and becomes
    the bottleneck (about 9k replies/s here); statuses come from the node's counters instead."""
    quoted = ",".join(f'"{p}"' for p in PATHS)
    pace = f"delay = function() return {delay_ms:.1f} end\n" if delay_ms else ""
    return f"""wrk.method = "POST"
wrk.body = '{{"value": 1}}'
wrk.headers["Content-Type"] = "application/json"
paths = {{{quoted}}}
i = 0
request = function()
  i = (i % #paths) + 1
  return wrk.format(nil, paths[i])
end
{pace}"""


def shed_total(base: str) -> float:
    """`roost_shed_total` summed over its labels, from the node's /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("roost_shed_total{")
    )


def run_wrk(url: str, seconds: float, connections: int, delay_ms: float | None) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua(delay_ms))
    try:
        proc = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "5s",
             "--latency", "-s", fh.name, url],
            capture_output=True, text=True, timeout=seconds + 60, check=False,
        )  # fmt: skip
    finally:
        os.unlink(fh.name)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr}")
    out = parse_wrk(proc.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", proc.stdout)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     proc.stdout)  # fmt: skip
    out["non2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    out["socket_errors"] = float(sum(int(x) for x in sock.groups())) if sock else 0.0
    out["ok"] = out["requests"] - out["non2xx"]
    out["seconds"] = seconds
    out["ok_per_s"] = out["ok"] / seconds
    out["all_per_s"] = out["requests"] / seconds
    return out


def calibrate(url: str, target_per_s: float) -> tuple[int, list[tuple[int, float]]]:
    """The number of unpaced wrk connections whose replies come closest to `target_per_s`.
    wrk is closed-loop: each connection sends again as soon as its reply arrives, so what a
    connection count offers is what the node answers; a short run per count measures it."""
    seen: list[tuple[int, float]] = []
    for connections in OVERLOAD_CONNECTIONS:
        seen.append((connections, run_wrk(url, 3, connections, None)["all_per_s"]))
    best = min(seen, key=lambda cs: abs(cs[1] - target_per_s))
    return best[0], seen


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Prober:
    """Every HEALTH_EVERY s: GETs /healthz (its latency is the "stays responsive" figure) and
    POSTs one invocation (a 429 must carry Retry-After, and nothing may be a 5xx); every second:
    the node's RSS. In a thread: wrk and the node have the event loops; this must not share one."""

    base: str
    pid: int
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: {"ok": 0, "429": 0, "no_retry_after": 0,
                                                           "5xx": 0, "other": 0})  # fmt: skip
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="soak-prober", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _health(self) -> None:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=HEALTH_TIMEOUT) as resp:
                resp.read()
            self.latencies.append(time.perf_counter() - start)
        except OSError as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")

    def _invoke(self) -> None:
        req = urllib.request.Request(
            self.base + PATHS[-1], data=b'{"value": 1}', method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
            self.calls["ok"] += 1
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                self.calls["429"] += 1
                if not exc.headers.get("Retry-After"):
                    self.calls["no_retry_after"] += 1
            else:
                self.calls["5xx" if exc.code >= 500 else "other"] += 1
        except OSError:
            self.calls["other"] += 1

    def _loop(self) -> None:
        t0 = time.monotonic()
        next_rss = t0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_rss:
                self.rss.append((now - t0, rss_bytes(self.pid)))
                next_rss += 1.0
            self._health()
            self._invoke()
            self._stop.wait(HEALTH_EVERY)


def _pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] * 1000 if s else float("nan")


def soak(overload_s: float, capacity_s: float = 10.0, recovery_s: float = 10.0) -> dict[str, Any]:
    """One soak run; every figure it measured (see the module docstring)."""
    from roost.statestore.crypto import generate_key

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ROOST_STATESTORE_KEY": generate_key()}
        args = [
            sys.executable, "-m", "roost", "node", "--node-id", "soak",
            "--http", f"127.0.0.1:{port}", "--proxy-http", "off",
            "--statestore", f"sqlite:///{Path(tmp) / 'soak.db'}",
            "--actors", "examples.counters:Counter", "--max-inflight", str(MAX_INFLIGHT),
            "--log-level", "error",
        ]  # fmt: skip
        log = open(Path(tmp) / "node.log", "wb")  # noqa: SIM115 - closed in finally
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"{base}/readyz", proc)
            url = base + PATHS[0]
            run_wrk(url, 2, CAPACITY_CONNECTIONS, None)  # warm up: activate every actor
            capacity = run_wrk(url, capacity_s, CAPACITY_CONNECTIONS, None)
            cap = capacity["ok_per_s"]
            connections, calibration = calibrate(url, 2.0 * cap)
            prober = Prober(base, proc.pid)
            shed0 = shed_total(base)
            prober.start()
            try:
                overload = run_wrk(url, overload_s, connections, None)
            finally:
                prober.stop()
            # every non-2xx wrk saw must be a shed the node counted (the prober's own are not
            # wrk's): anything else is a wrong answer under load
            overload["shed"] = shed_total(base) - shed0 - prober.calls["429"]
            overload["not_shed"] = max(0.0, overload["non2xx"] - overload["shed"])
            recovery = run_wrk(url, recovery_s, CAPACITY_CONNECTIONS, None)
            alive = proc.poll() is None
        finally:
            stop(proc)
            log.close()
        tail = (Path(tmp) / "node.log").read_text(errors="replace")[-2000:]
    warm = [b for t, b in prober.rss if t >= overload_s / 4] or [b for _, b in prober.rss]
    return {
        "max_inflight": MAX_INFLIGHT,
        "connections": {"capacity": CAPACITY_CONNECTIONS, "overload": connections},
        "seconds": {"capacity": capacity_s, "overload": overload_s, "recovery": recovery_s},
        "capacity_per_s": cap,
        "capacity": capacity,
        "overload": overload,
        "offered_ratio": overload["all_per_s"] / cap if cap else 0.0,
        "calibration_per_s": calibration,
        "probe_calls": prober.calls,
        "health": {
            "probes": len(prober.latencies) + len(prober.failures),
            "failed": len(prober.failures),
            "failures": prober.failures[:5],
            "p50_ms": _pct(prober.latencies, 50),
            "p99_ms": _pct(prober.latencies, 99),
            "max_ms": max(prober.latencies, default=float("nan")) * 1000,
        },
        "rss": {
            "warm_mib": warm[0] / 2**20,
            "end_mib": warm[-1] / 2**20,
            "max_mib": max(warm) / 2**20,
            "growth": (warm[-1] - warm[0]) / warm[0],
            "samples_mib": [round(b / 2**20, 1) for _, b in prober.rss],
        },
        "recovery_per_s": recovery["ok_per_s"],
        "recovery_ratio": recovery["ok_per_s"] / cap if cap else 0.0,
        "node_alive": alive,
        "node_log_tail": tail if not alive else "",
    }


def run() -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    seconds = float(os.environ.get("ROOST_SOAK_SECONDS") or Scale.pick(120, 20))
    return soak(seconds)


def render(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"## Soak (issue 12)\n\nSkipped: {r['skipped']}\n"
    o, h, m, c = r["overload"], r["health"], r["rss"], r["probe_calls"]
    s = r["seconds"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    return f"""## Soak (issue 12)

One `roost node` (SQLite, {ACTORS:,} `sync` `counter` actors, `--max-inflight {r["max_inflight"]}`), wrk on
the same 2-core box: capacity measured closed-loop with {r["connections"]["capacity"]}
connections for {s["capacity"]:g} s, then {s["overload"]:g} s of {r["connections"]["overload"]}
connections (the count of those tried whose replies came nearest twice the capacity: wrk is
closed-loop, so offered load is what the node answers), then the capacity run again. One run (`make soak`
runs it for `ROOST_SOAK_SECONDS`, default 300 s of overload); raw figures in
`bench/results/soak.json`.

| figure | measured | target | verdict |
|---|---|---|---|
| capacity (200s/s) | {r["capacity_per_s"]:,.0f}/s | | |
| offered during overload (all replies/s) | {o["all_per_s"]:,.0f}/s = {r["offered_ratio"]:.2f}x capacity | 2x | {verdict(r["offered_ratio"] >= 1.8)} |
| served during overload (200s/s) | {o["ok_per_s"]:,.0f}/s | | |
| shed with 429 | {o["shed"]:,.0f} ({o["shed"] / max(1.0, o["requests"]):.0%} of replies); probe calls refused with 429: {c["429"]}, without Retry-After: {c["no_retry_after"]} | sheds, with Retry-After | {verdict(o["shed"] > 0 and c["no_retry_after"] == 0)} |
| other errors: non-2xx not counted as shed / probe 5xx / socket errors | {o["not_shed"]:,.0f} / {c["5xx"]} / {o["socket_errors"]:,.0f} | 0 5xx | {verdict(o["not_shed"] == 0 and c["5xx"] == 0)} |
| /healthz during overload: p50 / p99 / max (ms), failed probes | {h["p50_ms"]:.1f} / {h["p99_ms"]:.1f} / {h["max_ms"]:.1f}, {h["failed"]} of {h["probes"]} | within 100 ms | {verdict(h["p99_ms"] < 100 and h["failed"] == 0)} |
| RSS from warm-up to end of overload | {m["warm_mib"]:.1f} -> {m["end_mib"]:.1f} MiB ({m["growth"]:+.1%}; max {m["max_mib"]:.1f}) | growth < 10% | {verdict(m["growth"] < 0.10)} |
| after the load drops (200s/s) | {r["recovery_per_s"]:,.0f}/s = {r["recovery_ratio"]:.0%} of capacity | full rate | {verdict(r["recovery_ratio"] >= 0.9)} |
"""  # noqa: E501
