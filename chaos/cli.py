"""`python -m chaos` / `roost-chaos`: run chaos scenarios against a real Roost cluster.

Exit codes: 0 every scenario passed, 1 a violation was found, 2 the harness could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chaos import cleanup, report
from chaos.runner import Options, run
from chaos.scenario import SCENARIOS, SMOKE, build

log = logging.getLogger("chaos")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roost-chaos", description=__doc__)
    p.add_argument(
        "scenarios", nargs="*", help=f"scenarios to run (default: all): {', '.join(SCENARIOS)}"
    )
    p.add_argument(
        "--smoke", action="store_true", help=f"run {' and '.join(SMOKE)} (3 nodes unless --nodes)"
    )
    p.add_argument("--nodes", type=int, default=None, help="nodes per cluster (default 5, smoke 3)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the schedules and workload (default: random, printed)",
    )
    p.add_argument(
        "--loopback",
        action="store_true",
        help="no namespaces: nodes on 127.0.0.x, process and statestore faults only",
    )
    p.add_argument(
        "--out", type=Path, default=Path("chaos-out"), help="where reports go (default ./chaos-out)"
    )
    p.add_argument("--clients-per-node", type=int, default=3)
    p.add_argument("--actors-per-template", type=int, default=6)
    p.add_argument(
        "--pg-socket-dir", default="/var/run/postgresql", help="PostgreSQL's Unix socket directory"
    )
    p.add_argument("--pg-db", default="test")
    p.add_argument("--pg-user", default="postgres")
    p.add_argument(
        "--keep-logs",
        action="store_true",
        help="copy node logs and the full history into the report dir even on a pass",
    )
    p.add_argument(
        "--node-arg",
        action="append",
        default=[],
        help="extra argument for every `roost node` (repeatable)",
    )
    p.add_argument(
        "--cleanup",
        action="store_true",
        help="only remove what crashed runs left behind, then exit",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if ns.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        datefmt="%H:%M:%S",
    )
    use_netns = not ns.loopback
    if use_netns and os.geteuid() != 0:
        print(
            "roost-chaos: network namespaces need root; use --loopback for process faults only",
            file=sys.stderr,
        )
        return 2
    names = list(ns.scenarios) or (list(SMOKE) if ns.smoke else list(SCENARIOS))
    nodes = ns.nodes or (3 if ns.smoke else 5)
    seed = ns.seed if ns.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    try:  # bad arguments fail before anything is touched
        scenarios = [build(n, seed, nodes, network=use_netns) for n in names]
    except ValueError as exc:
        print(f"roost-chaos: {exc}", file=sys.stderr)
        return 2
    opts = Options(
        loopback=ns.loopback,
        out=ns.out,
        clients_per_node=ns.clients_per_node,
        actors_per_template=ns.actors_per_template,
        pg_socket_dir=ns.pg_socket_dir,
        pg_db=ns.pg_db,
        pg_user=ns.pg_user,
        keep_logs=ns.keep_logs,
        node_args=tuple(ns.node_arg),
    )
    # Ctrl-C and SIGTERM both unwind through every finally block; SIGINT explicitly, because a
    # shell starts background jobs with SIGINT ignored and Python would then keep ignoring it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    for line in cleanup.sweep_local(use_netns=use_netns):
        log.info("%s", line)
    try:
        for line in asyncio.run(cleanup.sweep_schemas(opts.admin_dsn())):
            log.info("%s", line)
    except Exception as exc:  # the database may be down: the run will say so
        log.warning("could not sweep leftover schemas: %s", exc)
    if ns.cleanup:
        return 0
    log.info("seed %d (rerun with --seed %d)", seed, seed)
    reports = []
    try:
        for i, s in enumerate(scenarios):
            data = run(s, opts, i)
            reports.append(data)
            print(report.summary(data), flush=True)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            f"roost-chaos: interrupted (seed {seed}); everything it made was removed",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:
        log.exception("harness failure")
        print(f"roost-chaos: harness failure in seed {seed}: {exc}", file=sys.stderr)
        return 2
    table = "\n".join([report.TABLE_HEAD, *(report.table_row(r) for r in reports)])
    ns.out.mkdir(parents=True, exist_ok=True)
    (ns.out / "summary.md").write_text(table + "\n")
    print("\n" + table)
    failed = [r["scenario"] for r in reports if r["violations"]]
    if failed:
        print(f"\nVIOLATIONS in {', '.join(failed)} (seed {seed}); reports under {ns.out}")
        return 1
    print(f"\nall {len(reports)} scenario(s) passed (seed {seed})")
    return 0
