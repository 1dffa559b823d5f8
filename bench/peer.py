"""Roost's side of the Ray figures that bench/core.py does not already take.

- HTTP, one caller, sequential: a Python client (one pooled aiohttp session, keep-alive) calling
  `incrementor.add` on `roost demo` one call after another: calls/s, p50, p99;
- activation: first calls to 10,000 new `tally` actors from 64 concurrent callers, in-process,
  with the embedded SQLite store (the default: every activation takes its lease in the file) and
  with the memory store.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from typing import Any

from bench.common import Scale, free_port, percentiles, serve, stop, summarize_runs, summary
from bench.core import ADD_PATH

KEY = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="


async def _http_sequential(url: str, calls: int) -> dict[str, float]:
    import aiohttp

    body = b'{"value": 1}'
    headers = {"Content-Type": "application/json"}
    lat = []
    async with aiohttp.ClientSession() as session:
        for _ in range(100):  # warm the connection and the actor
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
        t0 = time.perf_counter()
        for _ in range(calls):
            t = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
            lat.append(time.perf_counter() - t)
        rate = calls / (time.perf_counter() - t0)
    return {"per_s": rate, **percentiles(lat)}


def bench_http_sequential(calls: int | None = None) -> dict[str, Any]:
    import uvloop

    calls = calls or Scale.pick(3000, 300)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        args = [sys.executable, "-m", "roost", "demo", "--http", f"127.0.0.1:{port}"]
        proc = serve([*args, "--data", f"{tmp}/data"], port)
        try:
            for _ in range(Scale.repeat):
                runs.append(
                    uvloop.run(_http_sequential(f"http://127.0.0.1:{port}{ADD_PATH}", calls))
                )
        finally:
            stop(proc)
    return {"calls": calls, "client": "aiohttp, one session, keep-alive", **summarize_runs(runs)}


async def _activate_once(statestore: str | None, n: int) -> float:
    import roost
    from examples.counters import Tally

    async with roost.ActorSystem("act", actors=[Tally], statestore=statestore, key=KEY) as system:
        invoke = system.core.router.invoke
        await invoke("warm", "add", {"value": 1}, system="act", parent="tally")
        per_caller = n // 64

        async def caller(i: int) -> None:
            for j in range(per_caller):
                await invoke(f"a{i}-{j}", "add", {"value": 1}, system="act", parent="tally")

        t0 = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(64)))
        rate = 64 * per_caller / (time.perf_counter() - t0)
        if len(system.core.runtime.active) != 64 * per_caller + 1:
            raise RuntimeError("activation bench: wrong number of activations")
    return rate


def bench_activation(n: int | None = None) -> dict[str, Any]:
    import uvloop

    n = n or Scale.pick(10_000, 2_000)
    out: dict[str, Any] = {"actors": n - n % 64, "callers": 64}
    with tempfile.TemporaryDirectory() as tmp:
        for store in ("sqlite", "memory"):
            rates = []
            for i in range(Scale.repeat):
                url = f"sqlite:///{tmp}/act{i}.db" if store == "sqlite" else None
                rates.append(uvloop.run(_activate_once(url, n)))
            out[store] = summary(rates)
    return out


def run() -> dict[str, Any]:
    return {"http_sequential": bench_http_sequential(), "activation": bench_activation()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
