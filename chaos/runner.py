"""Run one scenario end to end: namespaces, statestore relay, nodes, workload, faults, healing,
final checks, report; and take everything down again whatever happens.

The namespaces are made (and removed) outside the event loop; the loop itself runs with the
main thread inside the client namespace, so every socket the workload opens is there. Each
scenario gets a fresh loop, so no worker thread outlives the namespace it was born in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from chaos import checker, cleanup, netns, report
from chaos.cluster import (
    HTTP_PORT,
    LINK_PORT,
    LINK_PROXY_PORT,
    PROXY_PORT,
    Cluster,
    ClusterConfig,
)
from chaos.faults import Executor
from chaos.history import Convergence
from chaos.pipes import DelayProxy, Relay
from chaos.scenario import Scenario
from chaos.workload import Workload, actors, read_finals

log = logging.getLogger("chaos")


@dataclass(frozen=True, slots=True)
class Options:
    loopback: bool = False
    out: Path = Path("chaos-out")
    clients_per_node: int = 3
    actors_per_template: int = 6
    pg_socket_dir: str = "/var/run/postgresql"
    pg_db: str = "test"
    pg_user: str = "postgres"
    keep_logs: bool = False
    node_args: tuple[str, ...] = ()

    def admin_dsn(self) -> str:
        return f"postgresql://{self.pg_user}@/{self.pg_db}?host={self.pg_socket_dir}"


def run(scenario: Scenario, opts: Options, index: int = 0) -> dict[str, Any]:
    """Run `scenario` on a fresh cluster; returns its report (also written under `opts.out`)."""
    prefix = f"rcx{os.getpid()}"
    run_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-{scenario.name}-"))
    topo = None if opts.loopback else netns.Topology(prefix, scenario.nodes)
    held = None
    try:
        if topo is not None:
            for cmd in netns.create_commands(topo):
                netns.sh(cmd)
            held = netns.Held()
            netns.enter(f"/run/netns/{topo.client}")
        return asyncio.run(_run(scenario, opts, index, prefix, run_dir, topo))
    finally:
        if held is not None:
            held.restore()
            held.close()
        if topo is not None:
            for cmd in netns.delete_commands(topo.namespaces()):
                netns.sh(cmd, check=False)
        shutil.rmtree(run_dir, ignore_errors=True)


async def _run(
    scenario: Scenario,
    opts: Options,
    index: int,
    prefix: str,
    run_dir: Path,
    topo: netns.Topology | None,
) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    schema = f"{prefix}_{index}"
    relay = Relay(str(run_dir / "pg" / ".s.PGSQL.5432"), f"{opts.pg_socket_dir}/.s.PGSQL.5432")
    statestore = f"postgresql://{opts.pg_user}@/{opts.pg_db}?host={run_dir / 'pg'}&schema={schema}"
    via_proxy = topo is not None and scenario.uses_latency
    cluster = Cluster(
        ClusterConfig(scenario.nodes, prefix, run_dir, statestore, topo, via_proxy, opts.node_args)
    )
    proxies: dict[int, DelayProxy] = {}
    t_wall = time.monotonic()
    try:
        await relay.start()
        if via_proxy and topo is not None:
            for n in cluster.nodes:
                sock = _bind_in(topo.node(n.index), n.host, PROXY_PORT)
                link = _bind_in(topo.node(n.index), n.host, LINK_PROXY_PORT)
                proxies[n.index] = DelayProxy(
                    sock, (n.host, HTTP_PORT), (link, (n.host, LINK_PORT))
                )
                await proxies[n.index].start()
        log.info("%s: starting %d nodes", scenario.name, scenario.nodes)
        await cluster.start_all()
        conv0 = await converge(cluster, [], timeout=60.0)
        if not conv0.members_ok:
            raise RuntimeError(f"the cluster did not form: {conv0.members_detail}")
        result = await _drive(scenario, opts, cluster, relay, topo, proxies)
        result["seconds"] = round(time.monotonic() - t_wall, 1)
        _write(result, scenario, opts, cluster)
        return result
    finally:
        await cluster.stop_all()
        for p in proxies.values():
            await p.close()
        await relay.close()
        with contextlib.suppress(Exception):
            await cleanup.drop_schema(opts.admin_dsn(), schema)


async def _drive(
    scenario: Scenario,
    opts: Options,
    cluster: Cluster,
    relay: Relay,
    topo: netns.Topology | None,
    proxies: dict[int, DelayProxy],
) -> dict[str, Any]:
    targets = actors(opts.actors_per_template)
    urls = [n.url for n in cluster.nodes]
    t0 = time.monotonic()
    clients = max(opts.clients_per_node, scenario.min_clients)
    wl = Workload(urls, targets, clients_per_node=clients, seed=scenario.seed, t0=t0)
    ex = Executor(cluster, relay, topology=topo, proxies=proxies, now=wl.now)
    load = asyncio.ensure_future(wl.run())
    try:
        log.info(
            "%s: workload on, faults: %s",
            scenario.name,
            "; ".join(f.describe() for f in scenario.faults),
        )
        try:
            await asyncio.wait_for(ex.run(scenario), scenario.max_seconds)
        except TimeoutError:
            ex.problems.append(f"faults still running after {scenario.max_seconds:.0f}s")
        healed = await ex.heal_all()
        await asyncio.sleep(scenario.cooldown)  # workload keeps running on the healed cluster
    finally:
        wl.stop()
        await load
    log.info("%s: %d requests; checking convergence and final state", scenario.name, len(wl.ops))
    t_conv = time.monotonic()
    conv = await converge(cluster, [t.actor for t in targets], timeout=90.0)
    conv.seconds = time.monotonic() - t_conv
    finals = await read_finals(urls, targets)
    result = checker.check(wl.ops, finals, ex.records, conv)
    data = report.build(
        scenario,
        mode="loopback" if topo is None else "netns",
        ops=wl.ops,
        faults=ex.records,
        finals=finals,
        convergence=conv,
        result=result,
        problems=ex.problems,
        healed=healed,
        notes=ex.warnings,
        drains=ex.drains,
        clients_per_node=clients,
    )
    data["_ops"] = [o.to_json() for o in wl.ops]
    return data


async def converge(cluster: Cluster, actor_names: Sequence[str], timeout: float) -> Convergence:
    """Wait until every node sees every node active and all name the same owner per actor."""
    expected = {n.node_id for n in cluster.nodes}
    deadline = time.monotonic() + timeout
    conv = Convergence()
    session = cluster.session()
    while True:
        conv = Convergence()
        try:
            views = await asyncio.gather(
                *(_get(session, f"{n.url}/v1/cluster/members") for n in cluster.nodes)
            )
            active = [{m["id"] for m in v["members"] if m["status"] == "active"} for v in views]
            bad = [
                f"{n.node_id} sees {sorted(a)}"
                for n, a in zip(cluster.nodes, active, strict=True)
                if a != expected
            ]
            conv.members_ok, conv.members_detail = not bad, "; ".join(bad)
            if conv.members_ok:
                for actor in actor_names:
                    answers = await asyncio.gather(
                        *(
                            _get(session, f"{n.url}/v1/cluster/owner?system=chaos&actor={actor}")
                            for n in cluster.nodes
                        ),
                        return_exceptions=True,
                    )
                    conv.owners[actor] = {
                        n.node_id: (a["owner"] if isinstance(a, dict) else f"error {a!r}")
                        for n, a in zip(cluster.nodes, answers, strict=True)
                    }
                if all(len(set(v.values())) == 1 for v in conv.owners.values()):
                    return conv
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            conv.members_detail = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            return conv
        await asyncio.sleep(0.5)  # gossip settles in its own time; poll


async def _get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as r:
        r.raise_for_status()
        return await r.json()


def _bind_in(ns: str, host: str, port: int) -> socket.socket:
    """A listening socket inside namespace `ns` (sockets keep the namespace they were made in)."""
    held = netns.Held()
    try:
        netns.enter(f"/run/netns/{ns}")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(1024)
        return s
    finally:
        held.restore()
        held.close()


def _write(data: dict[str, Any], scenario: Scenario, opts: Options, cluster: Cluster) -> None:
    """Report JSON, summary, and (on a violation or when asked) the nodes' logs."""
    out = opts.out / f"{scenario.name}-n{scenario.nodes}-s{scenario.seed}"
    out.mkdir(parents=True, exist_ok=True)
    ops = data.pop("_ops")
    (out / "report.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "summary.txt").write_text(report.summary(data) + "\n")
    if data["violations"] or opts.keep_logs:
        with open(out / "history.jsonl", "w") as f:
            for o in ops:
                f.write(json.dumps(o) + "\n")
        for n in cluster.nodes:
            if n.log.exists():
                shutil.copy(n.log, out / n.log.name)
    data["out"] = str(out)
