"""Real `roost node` processes on loopback for the cluster suite: PostgreSQL statestore (a schema
of its own, dropped afterwards), serf gossip, the cluster secret, the seed actors.

Nodes are started the way the acceptance scripts start them; every node lists every node's
gossip address as its seeds (as a StatefulSet does), so any one of them can restart and rejoin.
ROOST_BENCH_KEEP_SCHEMA=1 keeps the PostgreSQL schema afterwards (to look at leases and rows).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, free_port, wait_http

PG_URL = os.environ.get("ROOST_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SYSTEM = "spawn-system"
ACTORS = "examples.counters:Counter,examples.counters:Tally,examples.counters:Incrementor"
SECRET = "bench-cluster-secret-0123456789abcdef"
KEY = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="


@dataclass
class NodeProc:
    node_id: str
    http: int
    gossip: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"


@dataclass
class Cluster:
    """N node slots; `start(i)` / `stop(i)` run or stop slot i (same id and ports every time)."""

    n: int
    tmp: Path
    schema: str = field(default_factory=lambda: f"bench_{uuid.uuid4().hex[:10]}")
    nodes: list[NodeProc] = field(default_factory=list)
    pool_size: int | None = None  # PostgreSQL connections per node (None: the node's default)

    def __post_init__(self) -> None:
        for i in range(self.n):
            node_id = f"bench-n{i + 1}"
            self.nodes.append(
                NodeProc(node_id, free_port(), free_port(), self.tmp / f"{node_id}.log")
            )

    @property
    def statestore(self) -> str:
        sep = "&" if "?" in PG_URL else "?"
        pool = "" if self.pool_size is None else f"&pool_size={self.pool_size}"
        return f"{PG_URL}{sep}schema={self.schema}{pool}"

    def start(self, i: int, wait: bool = True) -> NodeProc:
        node = self.nodes[i]
        seeds = ",".join(f"127.0.0.1:{n.gossip}" for n in self.nodes)
        args = [
            sys.executable, "-m", "roost", "node", "--node-id", node.node_id,
            "--system", SYSTEM, "--actors", ACTORS,
            "--http", f"127.0.0.1:{node.http}", "--gossip", f"127.0.0.1:{node.gossip}",
            "--seeds", seeds, "--statestore", self.statestore, "--log-level", "info",
        ]  # fmt: skip
        env = {**os.environ, "ROOST_CLUSTER_SECRET": SECRET, "ROOST_STATESTORE_KEY": KEY}
        with node.log.open("ab") as log:
            node.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=log)
        if wait:
            wait_http(f"{node.url}/readyz", node.proc, 90)
        return node

    def start_all(self) -> None:
        for i in range(self.n):
            self.start(i, wait=False)
        for node in self.nodes:
            self.wait_ready(node)
        self.wait_active(self.n)

    def wait_ready(self, node: NodeProc) -> None:
        """Until `node` answers /readyz; if it exits first, the error carries its log's tail."""
        assert node.proc is not None
        try:
            wait_http(f"{node.url}/readyz", node.proc, 90)
        except RuntimeError as exc:
            tail = node.log.read_text(errors="replace")[-2000:] if node.log.exists() else ""
            raise RuntimeError(f"{exc}; {node.node_id}'s log ends:\n{tail}") from None

    def stop(self, i: int, timeout: float = 60) -> float:
        """SIGTERM slot i and wait for it to exit; returns the seconds that took."""
        proc = self.nodes[i].proc
        if proc is None or proc.poll() is not None:
            return 0.0
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return time.perf_counter() - t0

    def wait_active(self, count: int, seconds: float = 60) -> None:
        """Until every running node's view lists `count` active members."""
        deadline = time.monotonic() + seconds
        running = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        while time.monotonic() < deadline:
            if all(active_count(n.url) == count for n in running):
                return
            time.sleep(0.2)
        raise RuntimeError(f"cluster did not converge on {count} active members in {seconds}s")

    def close(self) -> None:
        for i in range(self.n):
            self.stop(i)
        if not os.environ.get("ROOST_BENCH_KEEP_SCHEMA"):
            drop_schema(self.schema)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as r:
        return json.loads(r.read())


def active_count(url: str) -> int:
    try:
        members = get_json(f"{url}/v1/cluster/members")["members"]
    except OSError:
        return -1
    return sum(1 for m in members if m.get("status") == "active")


def owner(url: str, actor: str) -> str:
    return str(get_json(f"{url}/v1/cluster/owner?system={SYSTEM}&actor={actor}")["owner"])


def drop_schema(schema: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def actor_path(actor: str, template: str = "tally", action: str = "add") -> str:
    return f"/v1/systems/{SYSTEM}/actors/{actor}/actions/{action}?parent={template}"
