"""Helpers shared by the bench suites: summaries, percentiles, ports, wrk, server processes.

Every figure in RESULTS.md is a `summary` (median, min, max over repeated runs). Latency
percentiles of one run come from `percentiles` over that run's per-call samples.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 3


class Scale:
    """How big a run is: the full bench, or `--quick` (a smoke run, same code, small counts)."""

    quick = False
    repeat = REPEAT

    @classmethod
    def pick(cls, full: int, quick: int) -> int:
        return quick if cls.quick else full


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def percentiles(samples: Sequence[float], ps: Sequence[float] = (50, 99)) -> dict[str, float]:
    """Nearest-rank percentiles of `samples` (seconds), returned in milliseconds."""
    s = sorted(samples)
    out = {}
    for p in ps:
        k = min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))
        out[f"p{p:g}_ms"] = s[k] * 1000
    out["max_ms"] = s[-1] * 1000
    return out


def summarize_runs(runs: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """[{metric: v}, ...] over runs -> {metric: summary}."""
    return {k: summary([r[k] for r in runs]) for k in runs[0]}


_PORTS = random.Random()
_RECENT: deque[int] = deque(maxlen=512)  # handed out lately, maybe not bound yet: not again


def free_port() -> int:
    """A TCP port that is also free for UDP (serf gossip binds both), below Linux's ephemeral
    range (32768-60999): a port from that range can be taken, between this check and the
    server's bind, by any outgoing connection (a statestore client, a serf agent), which made a
    node of a 20-node run exit with "address already in use"."""
    while True:
        port = _PORTS.randrange(20_000, 32_000)
        if port in _RECENT:
            continue
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                tcp.bind(("127.0.0.1", port))
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        _RECENT.append(port)
        return port


# --- wrk -------------------------------------------------------------------------------------

WRK_POST_LUA = """wrk.method = "POST"
wrk.body = '{"value": 1}'
wrk.headers["Content-Type"] = "application/json"
"""


def cycling_lua(paths: Sequence[str]) -> str:
    """A wrk script that POSTs {"value": 1} to `paths` in turn (one counter per path)."""
    quoted = ",\n".join(f'  "{p}"' for p in paths)
    return (
        WRK_POST_LUA
        + f"paths = {{\n{quoted}\n}}\n"
        + "i = 0\n"
        + "request = function()\n"
        + "  i = (i % #paths) + 1\n"
        + "  return wrk.format(nil, paths[i])\n"
        + "end\n"
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict[str, float]:
    """Requests/s, p50/p99 latency (ms) and error counts from `wrk --latency` output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rate:
        raise RuntimeError(f"wrk printed no rate: {out}")
    result = {"per_s": float(rate.group(1))}
    done = re.search(r"(\d+) requests in", out)
    if done:
        result["requests"] = float(done.group(1))
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        if m:
            result[f"p{p}_ms"] = _ms(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["errors"] = float(
        (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(x) for x in sock.groups()) if sock else 0)
    )
    return result


def wrk_start(
    url: str, seconds: float, connections: int, script: str
) -> tuple[subprocess.Popen[str], str]:
    """Start one wrk process (one thread); `wrk_finish` collects its figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    proc = subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return proc, f.name


def wrk_finish(started: tuple[subprocess.Popen[str], str], seconds: float) -> dict[str, float]:
    proc, script = started
    try:
        out, err = proc.communicate(timeout=seconds + 30)
    finally:
        os.unlink(script)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err}")
    return parse_wrk(out)


def wrk(
    url: str, seconds: float = 5, connections: int = 64, script: str = WRK_POST_LUA
) -> dict[str, float]:
    return wrk_finish(wrk_start(url, seconds, connections, script), seconds)


# --- server processes ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_cpu(pid: int, url: str, seconds: float, **kw: Any) -> dict[str, float]:
    """`wrk`, plus the server's CPU microseconds per request over the run: a figure that, unlike
    requests/s, hardly moves with what else the shared machine is doing."""
    c0 = cpu_seconds(pid)
    result = wrk(url, seconds, **kw)
    result["cpu_us_per_req"] = (cpu_seconds(pid) - c0) / max(1.0, result["requests"]) * 1e6
    return result


def wait_http(url: str, proc: subprocess.Popen[Any], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up in {seconds}s")


def serve(
    args: Sequence[str], port: int, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        list(args), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_http(f"http://127.0.0.1:{port}/readyz", proc)
    return proc


def stop(proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
