"""Load from Roost's own Python `Client` (figure 6, the Python-client rows): one process, `conns`
concurrent callers over a list of `tally` actors, started at a given wall-clock time so that
several processes (one per node) measure the same seconds.

    python -m bench.pyclient --url URL --actors FILE --seconds S --conns C --start-at T [--aware]

Prints one JSON line: calls, per_s, p50_ms, p99_ms, errors. `--aware`: the client fetches the
ring first and sends each call to its owner; without it every call goes to URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.common import percentiles
from bench.nodes import SYSTEM
from roost.errors import RoostError
from roost.node.client import Client


async def _load(ns: argparse.Namespace, actors: list[str]) -> dict[str, Any]:
    async with Client(ns.url, token="", owner_aware=ns.aware, retries=0) as c:
        if ns.aware and not await c.refresh():
            raise SystemExit("could not fetch the ring")
        await asyncio.sleep(max(0.0, ns.start_at - time.time()))
        lat: list[float] = []
        errors = 0
        counting = False

        async def caller(k: int, until: float) -> None:
            nonlocal errors
            j = k
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                try:
                    await c.invoke(actors[j % len(actors)], "add", {"value": 1},
                                   system=SYSTEM, parent="tally")  # fmt: skip
                except RoostError:
                    errors += counting
                if counting:
                    lat.append(time.perf_counter() - t0)
                j += ns.conns

        warm = time.perf_counter() + ns.warmup
        await asyncio.gather(*(caller(k, warm) for k in range(ns.conns)))
        counting = True
        t0 = time.perf_counter()
        await asyncio.gather(*(caller(k, t0 + ns.seconds) for k in range(ns.conns)))
        took = time.perf_counter() - t0
    return {"calls": len(lat), "per_s": len(lat) / took, **percentiles(lat), "errors": errors}


def main() -> None:
    import uvloop

    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--actors", required=True, type=Path)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--conns", type=int, default=22)
    p.add_argument("--start-at", type=float, default=0)
    p.add_argument("--aware", action="store_true")
    ns = p.parse_args()
    actors = json.loads(ns.actors.read_text())
    print(json.dumps(uvloop.run(_load(ns, actors))))


if __name__ == "__main__":
    main()
