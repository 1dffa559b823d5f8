"""Single-node benchmarks: in-process invocations, HTTP with wrk, memory per idle actor.

Run with `python -m bench --only core` (`make bench` runs every suite). Each figure is the
median of `Scale.repeat` runs (3), with min and max, measured in this one run side by side.
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.common import (
    ROOT,
    Scale,
    cycling_lua,
    free_port,
    percentiles,
    serve,
    stop,
    summarize_runs,
    summary,
    wrk,
    wrk_cpu,
)

# --- in-process ------------------------------------------------------------------------------


async def _inproc_once(n_seq: int, n_conc: int) -> dict[str, float]:
    """One run: sequential calls to one actor, then 64 callers over 1,000 activated counters.

    Every call is timed (two perf_counter reads, about 0.1 us: included in the rates, as on the
    Ray side). With the memory store a turn never waits on I/O, so the 64 asyncio callers take
    turns on the one event loop: the figure is the loop's throughput, the p99 its queueing.
    """
    import roost
    from examples.counters import Incrementor, Tally

    clock = time.perf_counter
    async with roost.ActorSystem("bench", actors=[Incrementor, Tally]) as system:
        invoke = system.core.router.invoke
        await invoke("incrementor", "add", {"value": 1}, system="bench")
        seq: list[float] = []
        t0 = clock()
        for _ in range(n_seq):
            t = clock()
            await invoke("incrementor", "add", {"value": 1}, system="bench")
            seq.append(clock() - t)
        one = n_seq / (clock() - t0)

        per_caller = n_conc // 64
        conc: list[float] = []

        async def caller(i: int) -> None:
            for j in range(per_caller):
                t = clock()
                await invoke(
                    f"t{(i * 131 + j) % 1000}", "add", {"value": 1}, system="bench", parent="tally"
                )
                conc.append(clock() - t)

        for i in range(1000):  # activate first: this measures steady-state turns
            await invoke(f"t{i}", "add", {"value": 1}, system="bench", parent="tally")
        t0 = clock()
        await asyncio.gather(*(caller(i) for i in range(64)))
        many = 64 * per_caller / (clock() - t0)
    s, c = percentiles(seq), percentiles(conc)
    return {
        "one_per_s": one,
        "one_p50_ms": s["p50_ms"],
        "one_p99_ms": s["p99_ms"],
        "many_per_s": many,
        "many_p50_ms": c["p50_ms"],
        "many_p99_ms": c["p99_ms"],
    }


def bench_inprocess(n_seq: int | None = None, n_conc: int | None = None) -> dict[str, Any]:
    import uvloop

    n_seq = n_seq or Scale.pick(200_000, 20_000)
    n_conc = n_conc or Scale.pick(192_000, 19_200)
    runs = [uvloop.run(_inproc_once(n_seq, n_conc)) for _ in range(Scale.repeat)]
    return {"calls_seq": n_seq, "calls_conc": n_conc, **summarize_runs(runs)}


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


def bench_memory(n: int | None = None) -> dict[str, Any]:
    """RSS growth of a process per activated, idle, persisted actor (SQLite store)."""
    n = n or Scale.pick(100_000, 10_000)
    rss = []
    for _ in range(Scale.repeat):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, str(n)],
            capture_output=True, text=True, check=True, cwd=ROOT, timeout=600,
        )  # fmt: skip
        data = json.loads(out.stdout.strip().splitlines()[-1])
        rss.append(data["rss_per_actor"])
    return {"actors": n, "rss_bytes_per_actor": summary(rss)}


# --- HTTP with wrk ---------------------------------------------------------------------------

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

ADD_PATH = "/v1/systems/spawn-system/actors/incrementor/actions/add"
# 1,000 `tally` counters (issue 18): each request names one, as a real mix of callers would
TALLY_PATHS = [
    f"/v1/systems/spawn-system/actors/t{i}/actions/add?parent=tally" for i in range(1000)
]
HTTP_CONNECTIONS = 32


def _demo_args(port: int, data: str) -> list[str]:
    return [sys.executable, "-m", "roost", "demo", "--http", f"127.0.0.1:{port}", "--data", data]


def bench_http(seconds: int | None = None) -> dict[str, Any]:
    """`roost demo` against a bare aiohttp endpoint doing the same JSON counter work, with wrk
    (-t1 -c32, cycling over 1,000 `tally` actors): requests/s and server CPU per request."""
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    seconds = seconds or Scale.pick(5, 2)
    script = cycling_lua(TALLY_PATHS)
    roost_runs, bare_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(Scale.repeat):  # interleaved, so both see the same machine noise
            for runs, args in (
                (roost_runs, lambda port: _demo_args(port, f"{tmp}/data")),
                (bare_runs, lambda port: [sys.executable, "-c", _BARE_SERVER, str(port)]),
            ):
                port = free_port()
                proc = serve(args(port), port)
                url = f"http://127.0.0.1:{port}/"
                try:
                    wrk(url, 1, HTTP_CONNECTIONS, script)  # warm up (activates the actors)
                    runs.append(
                        wrk_cpu(proc.pid, url, seconds, connections=HTTP_CONNECTIONS, script=script)
                    )
                finally:
                    stop(proc)
    roost_s, bare_s = summarize_runs(roost_runs), summarize_runs(bare_runs)
    return {
        "roost": roost_s,
        "bare": bare_s,
        "ratio_to_bare": roost_s["per_s"]["median"] / bare_s["per_s"]["median"],
        # bare CPU per request / Roost CPU per request: the same ratio, robust to machine noise
        "cpu_ratio_to_bare": bare_s["cpu_us_per_req"]["median"]
        / roost_s["cpu_us_per_req"]["median"],
        "wrk": f"-t1 -c{HTTP_CONNECTIONS} -d{seconds}s, 1,000 tally actors",
    }


def run() -> dict[str, Any]:
    gc.collect()
    return {
        "inprocess": bench_inprocess(),
        "memory": bench_memory(),
        "http": bench_http(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
