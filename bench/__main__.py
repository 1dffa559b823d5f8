"""`python -m bench` (what `make bench` runs): every suite in one run, then bench/RESULTS.md,
bench/results/<suite>.json and the PNG plots.

    python -m bench                      # everything (about 20 minutes on the 2-core box)
    python -m bench --only ray,core      # some suites; RESULTS.md keeps the others' last JSON
    python -m bench --quick              # smoke run: same code, small counts, one run each

Suites: core (in-process, memory, HTTP vs bare aiohttp), front (goodput under overload, probes
in a flood), typed (typed vs dict state, in-process), peer (Roost's side of the Ray figures
core does not take), ring (pure placement figures), cluster (real nodes: forwarding, 3 nodes,
handoff), rolling (rolling restart of 3 real nodes at two loads, drain times), scaling (CPU per
call on 1, 3, 5 and 10 nodes), stores, membership, soak (one node at twice its capacity), tracing
(what tracing costs, off and on), ray
(Ray in bench/.venv-ray). The store and membership figures that used to live in
bench/STORES.md and bench/MEMBERSHIP.md are sections of RESULTS.md now (`stores.render`,
`membership.render`), so every figure has one home.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench.common import ROOT, Scale

RESULTS = ROOT / "bench" / "results"
PAGE = ROOT / "bench" / "RESULTS.md"


def _suites() -> dict[str, Callable[[], dict[str, Any]]]:
    from bench import (
        cluster,
        core,
        front,
        membership,
        peer,
        ray_suite,
        ring,
        rolling,
        scaling,
        soak,
        stores,
        tracing,
        typed,
    )

    return {
        "core": core.run,
        "front": front.run,
        "typed": typed.run,
        "peer": peer.run,
        "ring": ring.run,
        "cluster": cluster.run,
        "rolling": rolling.run,
        "scaling": scaling.run,
        "stores": stores.run,
        "membership": membership.run,
        "soak": soak.run,
        "tracing": tracing.run,
        # last: its ~200 worker processes push the load average past 100, and the 1-minute
        # average lags into whatever runs next
        "ray": ray_suite.run,
    }


def _machine() -> str:
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 2**20
    return (
        f"{os.cpu_count()} CPUs, {mem} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _load_all() -> dict[str, dict[str, Any]]:
    """The last results of every suite (other JSON files there, like `bench.servers`' own, are
    not suites' and are left out)."""
    out = {}
    order = list(_suites())
    for path in sorted(RESULTS.glob("*.json")):
        if path.stem in order:
            out[path.stem] = json.loads(path.read_text())
    return dict(sorted(out.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma list of suites (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts, one run")
    parser.add_argument("--no-write", action="store_true", help="print JSON, write nothing")
    ns = parser.parse_args(argv)
    suites = _suites()
    chosen = list(suites) if not ns.only else [s.strip() for s in ns.only.split(",") if s]
    unknown = [s for s in chosen if s not in suites]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(suites)}")
    if ns.quick:
        Scale.quick, Scale.repeat = True, 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    t_all = time.monotonic()
    failed = []
    for name in chosen:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        try:
            result = suites[name]()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        took = time.monotonic() - t0
        result["_meta"] = {
            "seconds": round(took, 1),
            "finished": time.strftime("%Y-%m-%d %H:%M"),
            "quick": ns.quick,
            # 1-minute load average at start and end: how busy the shared machine was
            "load": [round(load0, 1), round(os.getloadavg()[0], 1)],
        }
        print(f"bench: {name} done in {took:.0f} s", file=sys.stderr, flush=True)
        if ns.no_write:
            print(json.dumps(result, indent=2))
        else:
            (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    total = time.monotonic() - t_all
    if not ns.no_write:
        write_page(total if set(chosen) == set(suites) and not failed else None, ns.quick)
    print(f"bench: all done in {total:.0f} s" + (f"; FAILED: {failed}" if failed else ""),
          file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def write_page(full_run_s: float | None, quick: bool) -> None:
    from bench.plots import plot_all
    from bench.report import render

    meta_path = RESULTS / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    from importlib.metadata import version

    meta.update({"machine": _machine(), "repeat": 1 if quick else Scale.repeat})
    meta["roost"] = version("roost")
    if full_run_s is not None:
        meta["full_run_s"] = round(full_run_s)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    suites = _load_all()
    PAGE.write_text(render(meta, suites))
    for path in plot_all(suites, RESULTS):
        print(f"bench: wrote {path.relative_to(ROOT)}", file=sys.stderr)
    print(f"bench: wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
