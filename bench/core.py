"""Single-node benchmarks: in-process invocations, HTTP with wrk, memory per idle actor.

Run with `python -m bench.core` (or `make bench`, which runs every suite). Each figure is the
median of `REPEAT` runs, with min and max, measured in this one run side by side.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 3


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- in-process ------------------------------------------------------------------------------


async def _inproc_once(n_seq: int, n_conc: int) -> tuple[float, float]:
    import roost
    from examples.counters import Incrementor, Tally

    async with roost.ActorSystem("bench", actors=[Incrementor, Tally]) as system:
        invoke = system.core.router.invoke
        await invoke("incrementor", "add", {"value": 1}, system="bench")
        t0 = time.perf_counter()
        for _ in range(n_seq):
            await invoke("incrementor", "add", {"value": 1}, system="bench")
        one = n_seq / (time.perf_counter() - t0)

        per_caller = n_conc // 64

        async def caller(i: int) -> None:
            for j in range(per_caller):
                await invoke(
                    f"t{(i * 131 + j) % 1000}", "add", {"value": 1}, system="bench", parent="tally"
                )

        for i in range(1000):  # activate first: this measures steady-state turns
            await invoke(f"t{i}", "add", {"value": 1}, system="bench", parent="tally")
        t0 = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(64)))
        many = 64 * per_caller / (time.perf_counter() - t0)
    return one, many


def bench_inprocess(n_seq: int = 200_000, n_conc: int = 192_000) -> dict[str, Any]:
    import uvloop

    ones, manys = [], []
    for _ in range(REPEAT):
        one, many = uvloop.run(_inproc_once(n_seq, n_conc))
        ones.append(one)
        manys.append(many)
    return {"one_actor_per_s": summary(ones), "actors_1000_callers_64_per_s": summary(manys)}


# --- memory ----------------------------------------------------------------------------------

_MEMORY_SCRIPT = r"""
import asyncio, gc, json, sys, tempfile, uvloop, roost
from examples.counters import Tally

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

async def main(n):
    d = tempfile.mkdtemp()
    async with roost.ActorSystem("mem", actors=[Tally], statestore=f"sqlite:///{d}/m.db",
                                 key="a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=") as s:
        rt = s.core.runtime
        await s.invoke("warm", "add", {"value": 1}, parent="tally")
        await rt.snapshot_due(rt.clock() + 60)
        gc.collect(); r0 = rss()
        for i in range(n):
            await s.invoke(f"a{i}", "add", {"value": 1}, parent="tally")
        await rt.snapshot_due(rt.clock() + 60)   # written: every actor is now idle and clean
        gc.collect(); r1 = rss()
        print(json.dumps({"actors": len(rt.active), "rss_per_actor": (r1 - r0) / n}))

uvloop.run(main(int(sys.argv[1])))
"""


def bench_memory(n: int = 100_000) -> dict[str, Any]:
    rss = []
    for _ in range(REPEAT):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, str(n)],
            capture_output=True, text=True, check=True, cwd=ROOT, timeout=600,
        )  # fmt: skip
        data = json.loads(out.stdout.strip().splitlines()[-1])
        rss.append(data["rss_per_actor"])
    return {"actors": n, "rss_bytes_per_actor": summary(rss)}


# --- HTTP with wrk ---------------------------------------------------------------------------

WRK_LUA = """wrk.method = "POST"
wrk.body = '{"value": 1}'
wrk.headers["Content-Type"] = "application/json"
"""

_BARE_SERVER = r"""
import sys, orjson, uvloop
from aiohttp import web
totals = {}
async def add(request):
    payload = orjson.loads(await request.read())
    name = request.match_info["actor"]
    totals[name] = totals.get(name, 0) + payload["value"]
    return web.Response(body=orjson.dumps({"total": totals[name]}), content_type="application/json")
app = web.Application()
app.router.add_post("/v1/systems/{system}/actors/{actor}/actions/{action}", add)
async def health(request):
    return web.Response(text="ok")
app.router.add_get("/readyz", health)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def wrk(url: str, seconds: int = 5, connections: int = 64, script: str = WRK_LUA) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", f.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 30,
        )  # fmt: skip
    finally:
        os.unlink(f.name)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not m:
        raise RuntimeError(f"wrk printed no rate: {out.stdout} {out.stderr}")
    return float(m.group(1))


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up in {seconds}s")


def _serve(args: list[str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/readyz", proc)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def bench_http(seconds: int = 5) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    path = "/v1/systems/spawn-system/actors/incrementor/actions/add"
    roost_rates, bare_rates = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(REPEAT):  # interleaved, so both see the same machine noise
            port = free_port()
            demo = [sys.executable, "-m", "roost", "demo", "--http", f"127.0.0.1:{port}",
                    "--data", f"{tmp}/data"]  # fmt: skip
            proc = _serve(demo, port, ROOT)
            try:
                wrk(f"http://127.0.0.1:{port}{path}", 1)  # warm up
                roost_rates.append(wrk(f"http://127.0.0.1:{port}{path}", seconds))
            finally:
                _stop(proc)
            port = free_port()
            proc = _serve([sys.executable, "-c", _BARE_SERVER, str(port)], port, ROOT)
            try:
                wrk(f"http://127.0.0.1:{port}{path}", 1)
                bare_rates.append(wrk(f"http://127.0.0.1:{port}{path}", seconds))
            finally:
                _stop(proc)
    roost_s, bare_s = summary(roost_rates), summary(bare_rates)
    return {
        "roost_demo_per_s": roost_s,
        "bare_aiohttp_per_s": bare_s,
        "ratio_to_bare": roost_s["median"] / bare_s["median"],
        "wrk": f"-t1 -c64 -d{seconds}s",
    }


def run() -> dict[str, Any]:
    gc.collect()
    return {
        "inprocess": bench_inprocess(),
        "memory": bench_memory(),
        "http": bench_http(),
    }


def markdown(r: dict[str, Any]) -> str:
    def f(s: dict[str, float], unit: str = "") -> str:
        return f"{s['median']:,.0f}{unit} (min {s['min']:,.0f}, max {s['max']:,.0f})"

    ip, mem, h = r["inprocess"], r["memory"], r["http"]
    lines = [
        "| figure | result | target |",
        "|---|---|---|",
        f"| in-process, one actor, sequential | {f(ip['one_actor_per_s'], '/s')} | >= 100k/s |",
        f"| in-process, 1,000 actors, 64 callers | {f(ip['actors_1000_callers_64_per_s'], '/s')} "
        "| >= 100k/s |",
        f"| memory per idle actor ({mem['actors']:,} actors), RSS | "
        f"{f(mem['rss_bytes_per_actor'], ' B')} | <= 2 KB |",
    ]
    if "skipped" in h:
        lines.append(f"| HTTP | skipped: {h['skipped']} | |")
    else:
        lines += [
            f"| HTTP, demo node, wrk {h['wrk']} | {f(h['roost_demo_per_s'], '/s')} | >= 5k/s |",
            f"| HTTP, bare aiohttp, same JSON work | {f(h['bare_aiohttp_per_s'], '/s')} | |",
            f"| Roost HTTP / bare aiohttp | {h['ratio_to_bare']:.0%} | >= 80% |",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    result = run()
    print(json.dumps(result, indent=2))
    print(markdown(result))
