"""Profiles of Roost's hot paths (not part of `make bench`; run ``python -m bench.profile``).

- inproc: pyinstrument over 100k sequential in-process invocations (Router.invoke ->
  Runtime.invoke/_turn), memory store;
- http: py-spy sampling `roost demo` while wrk drives `incrementor.add` (HttpApi.invoke ->
  Node.invoke -> ...), and the bare aiohttp endpoint the same way, for the baseline;
- forward: py-spy sampling the non-owner node of a 2-node cluster while wrk sends it calls for
  actors the other node owns.

Writes bench/results/profile_*.txt: for py-spy, the functions with the most samples inclusive
and self (from its collapsed stacks), as shares of all samples of the process.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    ROOT,
    WRK_POST_LUA,
    cycling_lua,
    free_port,
    serve,
    stop,
    wrk_finish,
    wrk_start,
)
from bench.core import _BARE_SERVER, ADD_PATH, _demo_args

OUT = ROOT / "bench" / "results"
PYSPY = str(Path(sys.executable).with_name("py-spy"))


def summarize_collapsed(path: Path, top: int = 40) -> str:
    """Inclusive and self sample shares per function from py-spy's --format raw output."""
    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        count = int(n)
        total += count
        frames = [_short(f) for f in stack.split(";")]
        for fr in set(frames):
            incl[fr] += count
        if frames:
            self_[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in incl.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in self_.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """'fn (path/to/site-packages/pkg/mod.py:12)' -> 'fn (pkg/mod.py)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def pyspy(pid: int, seconds: float, url: str, script: str, name: str) -> None:
    raw = OUT / f"profile_{name}.collapsed"
    spy = subprocess.Popen(
        [PYSPY, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250", "-f", "raw",
         "-o", str(raw), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    started = wrk_start(url, seconds - 2, 64, script)
    rate = wrk_finish(started, seconds)["per_s"]
    spy.wait(timeout=seconds + 30)
    text = f"{name}: wrk -t1 -c64 at {rate:,.0f} calls/s while sampling\n" + summarize_collapsed(
        raw
    )
    (OUT / f"profile_{name}.txt").write_text(text + "\n")
    raw.unlink()
    print(text[:3000])


def profile_http(seconds: float = 12) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = serve(_demo_args(port, f"{tmp}/data"), port)
        try:
            url = f"http://127.0.0.1:{port}{ADD_PATH}"
            pyspy(proc.pid, seconds, url, WRK_POST_LUA, "http_roost")
        finally:
            stop(proc)
        port = free_port()
        proc = serve([sys.executable, "-c", _BARE_SERVER, str(port)], port)
        try:
            url = f"http://127.0.0.1:{port}{ADD_PATH}"
            pyspy(proc.pid, seconds, url, WRK_POST_LUA, "http_bare")
        finally:
            stop(proc)


def profile_forward(seconds: float = 12) -> None:
    from bench.cluster import activate
    from bench.nodes import Cluster, actor_path, owner

    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(2, Path(tmp))
        try:
            cluster.start_all()
            a, b = cluster.nodes
            names = [n for n in (f"p{i}" for i in range(600)) if owner(a.url, n) == b.node_id]
            paths = [actor_path(n) for n in names[:200]]
            activate([b.url], paths)
            assert a.proc is not None
            pyspy(a.proc.pid, seconds, a.url + paths[0], cycling_lua(paths), "forward_nonowner")
        finally:
            cluster.close()


def profile_inproc(n: int = 100_000) -> None:
    import asyncio

    import uvloop
    from pyinstrument import Profiler

    import roost
    from examples.counters import Incrementor

    async def main() -> str:
        async with roost.ActorSystem("bench", actors=[Incrementor]) as system:
            invoke = system.core.router.invoke
            await invoke("incrementor", "add", {"value": 1}, system="bench")
            prof = Profiler(interval=0.0001, async_mode="disabled")
            prof.start()
            for _ in range(n):
                await invoke("incrementor", "add", {"value": 1}, system="bench")
            prof.stop()
            return str(prof.output_text(unicode=False, color=False, show_all=False))

    del asyncio
    text = uvloop.run(main())
    (OUT / "profile_inproc.txt").write_text(text)
    print(text[:4000])


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    which = sys.argv[1:] or ["inproc", "http", "forward"]
    for w in which:
        {"inproc": profile_inproc, "http": profile_http, "forward": profile_forward}[w]()
