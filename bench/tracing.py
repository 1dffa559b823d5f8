"""What tracing costs (issue 21): the same calls with tracing off, side by side with the code
before tracing (when `ROOST_BENCH_BASE` names that commit), and on at 100% sampling, exporting
over OTLP/HTTP to a local receiver that decodes and counts the spans.

Run with `python -m bench --only tracing`. Each variant runs in a process of its own; the
variants take turns, round after round (`ROUNDS`), the order rotating each round, so all see the
same machine noise and none always runs first. Off is "within noise" of before when off is not
worse than before by more than the spread (max - min) of either one's runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import ROOT, Scale, free_port, serve, stop, summarize_runs, wrk, wrk_cpu
from bench.core import ADD_PATH

ROUNDS = 5

# One process, one variant: sequential calls to one actor, then 64 callers over 1,000 counters
# (the in-process figure of bench/core.py), through `ActorSystem`, whose API the code before
# tracing has too. argv: mode (plain|on), calls, concurrent calls, OTLP endpoint.
_INPROC = r"""
import asyncio, json, sys, time, uvloop, roost
from examples.counters import Incrementor, Tally

async def main(mode, n_seq, n_conc, endpoint):
    kw = {}
    if mode == "on":
        from roost.tracing import from_config
        kw["tracing"] = from_config("bench", endpoint, {"OTEL_TRACES_SAMPLER": "always_on"},
                                    install_global=False)
    clock = time.perf_counter
    async with roost.ActorSystem("bench", actors=[Incrementor, Tally], **kw) as system:
        invoke = system.core.router.invoke
        await invoke("incrementor", "add", {"value": 1}, system="bench")
        t0 = clock()
        for _ in range(n_seq):
            await invoke("incrementor", "add", {"value": 1}, system="bench")
        one = n_seq / (clock() - t0)
        for i in range(1000):
            await invoke(f"t{i}", "add", {"value": 1}, system="bench", parent="tally")
        per = n_conc // 64
        async def caller(i):
            for j in range(per):
                await invoke(f"t{(i * 131 + j) % 1000}", "add", {"value": 1}, system="bench",
                             parent="tally")
        t0 = clock()
        await asyncio.gather(*(caller(i) for i in range(64)))
        many = 64 * per / (clock() - t0)
    if mode == "on":
        kw["tracing"].shutdown()
    print(json.dumps({"one_per_s": one, "many_per_s": many}))

uvloop.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
"""

# The collector's stand-in: decodes every OTLP/HTTP export request and counts the spans.
_RECEIVER = r"""
import sys
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)
count = [0, 0]
async def export(request):
    req = ExportTraceServiceRequest()
    req.ParseFromString(await request.read())
    count[0] += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    count[1] += 1
    return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                        content_type="application/x-protobuf")
async def counted(request):
    return web.json_response({"spans": count[0], "requests": count[1]})
async def ready(request):
    return web.Response(text="ok")
app = web.Application(client_max_size=64 << 20)
app.router.add_post("/v1/traces", export)
app.router.add_get("/count", counted)
app.router.add_get("/readyz", ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def _base_tree(tmp: str) -> Path | None:
    """The code before tracing (`ROOST_BENCH_BASE`, a git ref), unpacked into `tmp`."""
    ref = os.environ.get("ROOST_BENCH_BASE")
    if not ref:
        return None
    dest = Path(tmp) / "base"
    dest.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _env(tree: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if tree is not None:  # the old tree's modules win over this checkout's editable install
        env["PYTHONPATH"] = f"{tree / 'src'}:{tree}"
    return {**env, **extra}


def _count(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{endpoint}/count", timeout=10) as r:
        out: dict[str, int] = json.loads(r.read())
    return out


def _inproc(mode: str, tree: Path | None, endpoint: str, n_seq: int, n_conc: int) -> Any:
    out = subprocess.run(
        [sys.executable, "-c", _INPROC, mode, str(n_seq), str(n_conc), endpoint],
        capture_output=True, text=True, check=True, cwd=tree or ROOT, env=_env(tree),
        timeout=900,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _http(tree: Path | None, data: str, seconds: int, **env: str) -> dict[str, float]:
    port = free_port()
    args = [sys.executable, "-m", "roost", "demo", "--http", f"127.0.0.1:{port}", "--data", data]
    proc = serve(args, port, cwd=tree or ROOT, env=_env(tree, **env))
    try:
        url = f"http://127.0.0.1:{port}{ADD_PATH}"
        wrk(url, 1)  # warm up
        return wrk_cpu(proc.pid, url, seconds)
    finally:
        stop(proc)


def run() -> dict[str, Any]:
    n_seq, n_conc = Scale.pick(20_000, 5_000), Scale.pick(25_600, 6_400)
    rounds = 1 if Scale.quick else ROUNDS
    seconds = Scale.pick(5, 2)
    inproc: dict[str, list[Any]] = {"before": [], "off": [], "on": []}
    http: dict[str, list[Any]] = {"before": [], "off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        tree = _base_tree(tmp)
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        receiver = serve([sys.executable, "-c", _RECEIVER, str(port)], port)
        on_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_SAMPLER": "always_on"}
        runs: dict[str, Any] = {
            "before": (lambda: _inproc("plain", tree, endpoint, n_seq, n_conc),
                       lambda r: _http(tree, f"{tmp}/b{r}", seconds)),
            "off": (lambda: _inproc("plain", None, endpoint, n_seq, n_conc),
                    lambda r: _http(None, f"{tmp}/o{r}", seconds)),
            "on": (lambda: _inproc("on", None, endpoint, n_seq, n_conc),
                   lambda r: _http(None, f"{tmp}/t{r}", seconds, **on_env)),
        }  # fmt: skip
        order = [v for v in runs if v != "before" or tree is not None]
        try:
            for r in range(rounds):
                for v in order[r % len(order) :] + order[: r % len(order)]:
                    inproc[v].append(runs[v][0]())
            spans_inproc = _count(endpoint)["spans"]
            if shutil.which("wrk") is not None:
                for r in range(rounds):
                    for v in order[r % len(order) :] + order[: r % len(order)]:
                        http[v].append(runs[v][1](r))
            spans_total = _count(endpoint)["spans"]
        finally:
            stop(receiver)
    calls = rounds * (n_seq + 1 + 1000 + 64 * (n_conc // 64))
    return {
        "rounds": rounds,
        "calls_seq": n_seq,
        "calls_conc": n_conc,
        "base": os.environ.get("ROOST_BENCH_BASE"),
        "inprocess": {k: summarize_runs(v) for k, v in inproc.items() if v},
        "http": {k: summarize_runs(v) for k, v in http.items() if v},
        "spans_exported_inprocess": spans_inproc,
        "inprocess_calls_traced": calls,
        "spans_exported_http": spans_total - spans_inproc,
        "http_requests_traced": sum(h["requests"] for h in http["on"]),
        "wrk": f"-t1 -c64 -d{seconds}s",
    }


def _row(name: str, d: dict[str, Any], key: str, base: dict[str, Any] | None) -> str:
    from bench.report import f

    s = d.get(key)
    if s is None:
        return ""
    rel = f" ({s['median'] / base['median']:.2f}x)" if base else ""
    return f"{f(s)}{rel}"


def within_noise(off: dict[str, float], before: dict[str, float], higher_is_better: bool) -> bool:
    """Off is not worse than before by more than the spread of either set of runs."""
    worse = off["median"] - before["median"]
    if higher_is_better:
        worse = -worse
    return worse <= max(off["max"] - off["min"], before["max"] - before["min"])


def render(r: dict[str, Any]) -> str:
    ip, ht = r["inprocess"], r.get("http", {})
    load = r.get("_meta", {}).get("load")
    ran = f" The 1-minute load average was {load[0]:g} to {load[1]:g} (2 cores)." if load else ""
    rows = []
    for label, sect, key, up in (
        ("in-process, one caller: calls/s", ip, "one_per_s", True),
        ("in-process, 64 callers: calls/s", ip, "many_per_s", True),
        ("HTTP (`roost demo`, wrk): requests/s", ht, "per_s", True),
        ("HTTP: server CPU per request (us)", ht, "cpu_us_per_req", False),
        ("HTTP: p50 latency (ms)", ht, "p50_ms", False),
    ):
        if key not in sect.get("off", {}):
            continue
        base = sect.get("before", {}).get(key)
        off = sect["off"][key]
        cells = [_row("before", sect.get("before", {}), key, None) or "n/a"]
        cells.append(_row("off", sect["off"], key, base))
        cells.append(_row("on", sect["on"], key, off))
        noise = "n/a" if base is None else ("yes" if within_noise(off, base, up) else "**no**")
        rows.append(f"| {label} | {' | '.join(cells)} | {noise} |")
    return f"""## Tracing (issue 21)

`python -m bench --only tracing` with `ROOST_BENCH_BASE={r.get("base") or "(unset)"}` (the commit
before tracing, unpacked and run from its own tree). Each figure is the median (min-max) of
{r["rounds"]} rounds; in every round each variant runs in a fresh process, one after the other,
so they share the machine's noise. In-process: {r["calls_seq"]:,} sequential calls to one actor,
then {r["calls_conc"]:,} calls from 64 callers over 1,000 counters (memory store), as in the
core suite. HTTP: `roost demo`, wrk {r["wrk"]}. *On* is 100% sampling (`always_on`) exporting
over OTLP/HTTP (batched) to a local receiver that decodes every request; it received
{r["spans_exported_inprocess"]:,} spans for {r["inprocess_calls_traced"]:,} in-process calls and
{r["spans_exported_http"]:,} for {r["http_requests_traced"]:,.0f} HTTP requests (the batch
queue drops spans rather than block a turn once it is full: 2,048 spans by default,
`OTEL_BSP_MAX_QUEUE_SIZE`). The order of the variants rotates from round to round. "Off within
noise": *off* is not worse than *before* by more than the spread (max - min) of either's runs
(with tracing off the code on a call's path is the code before it: nothing is wrapped and the
HTTP route is the same handler, so any difference is the machine's). Ratios in brackets: *off*
to *before*, *on* to *off*.{ran}

| figure | before tracing | tracing off | tracing on, 100% | off within noise |
|---|---|---|---|---|
{chr(10).join(rows)}

Reading it: the in-process and HTTP rates swing by a factor of two or more between rounds on
this shared machine, so the server's CPU time per request is the figure to compare; with tracing
off it is no higher than before (the handler and call path are the same code). With every call
sampled, each span costs the OpenTelemetry Python SDK on the order of 100 us of CPU here,
creating it and then encoding it for export in the batch thread (which shares the GIL): an
in-process call makes one span (its turn), an HTTP call two or three (the request, the turn, a
statestore write). That is why a busy mesh should sample a fraction of new traces
(`OTEL_TRACES_SAMPLER=parentbased_traceidratio`); a span that is not sampled is not recorded or
exported.
"""
