"""Real `roost node` processes on loopback, with their serf agents and a shared PostgreSQL, and a
load driver that counts every acknowledged increment."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from roost.statestore.crypto import generate_key
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("ROOST_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
ACTORS = "examples.counters:Counter,examples.counters:Incrementor,examples.counters:Tally"


@dataclass
class Proc:
    node_id: str
    http_port: int
    gossip_port: int
    popen: subprocess.Popen[bytes]
    log: Path
    proxy_port: int = 0  # Spawn protocol listener (actor hosts)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def alive(self) -> bool:
        return self.popen.poll() is None


class ProcCluster:
    def __init__(
        self, tmp: Path, system: str, store: str | None = None, actors: str = ACTORS
    ) -> None:
        self.tmp = tmp
        self.system = system
        # a schema of its own in the shared test database, dropped by `cleanup`: a test run
        # leaves no rows behind (other checks rotate keys over the whole table)
        self.schema = re.sub(r"[^a-z0-9_]", "_", system.lower())
        sep = "&" if "?" in PG_URL else "?"
        self.store = store or f"{PG_URL}{sep}schema={self.schema}"
        self.actors = actors
        self.env = {
            **os.environ,
            "ROOST_STATESTORE_KEY": generate_key(),
            "ROOST_CLUSTER_SECRET": "test-cluster-secret-" + system,
            "PYTHONPATH": str(ROOT),
        }
        self.nodes: dict[str, Proc] = {}
        self.seed_port: int | None = None

    def start(self, node_id: str) -> Proc:
        http, gossip, proxy = free_port(), free_port(), free_port()
        if self.seed_port is None:
            self.seed_port = gossip
        log = self.tmp / f"{node_id}.log"
        args = [
            sys.executable, "-m", "roost", "node", "--node-id", node_id,
            "--system", self.system, "--actors", self.actors, "--proxy-http", f"127.0.0.1:{proxy}",
            "--http", f"127.0.0.1:{http}", "--gossip", f"127.0.0.1:{gossip}",
            "--seeds", f"127.0.0.1:{self.seed_port}", "--statestore", self.store,
            "--drain-timeout", "20",
        ]  # fmt: skip
        with log.open("ab") as out:
            popen = subprocess.Popen(args, env=self.env, stdout=out, stderr=out, cwd=ROOT)
        proc = Proc(node_id, http, gossip, popen, log, proxy)
        self.nodes[node_id] = proc
        return proc

    async def wait_ready(self, proc: Proc, seconds: float = 40.0) -> None:
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                if not proc.alive():
                    raise AssertionError(f"{proc.node_id} exited: {proc.log.read_text()[-2000:]}")
                try:
                    async with s.get(proc.url + "/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{proc.node_id} not ready: {proc.log.read_text()[-2000:]}")

    async def wait_active(self, via: Proc, n: int, seconds: float = 30.0) -> float:
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as s:
            while time.monotonic() - t0 < seconds:
                async with s.get(via.url + "/v1/cluster/members") as r:
                    members = (await r.json())["members"]
                if sum(1 for m in members if m["status"] == "active") == n:
                    return time.monotonic() - t0
                await asyncio.sleep(0.2)
        raise AssertionError(f"{via.node_id} never saw {n} active members: {members}")

    def signal(self, node_id: str, sig: int) -> None:
        self.nodes[node_id].popen.send_signal(sig)

    def wait_exit(self, node_id: str, seconds: float = 40.0) -> int:
        return self.nodes[node_id].popen.wait(timeout=seconds)

    def live_urls(self) -> list[str]:
        return [p.url for p in self.nodes.values() if p.alive()]

    def stop_all(self) -> None:
        for p in self.nodes.values():
            if p.alive():
                p.popen.send_signal(signal.SIGKILL)
                p.popen.wait()

    async def cleanup(self) -> None:
        """Kill every node and drop the test's schema."""
        self.stop_all()
        if not self.store.startswith("postgresql://") or "schema=" not in self.store:
            return
        import asyncpg

        conn = await asyncpg.connect(PG_URL.split("?", 1)[0])
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await conn.close()


@dataclass
class Load:
    """Increments `n` counters through every live node; `acked` counts what was acknowledged."""

    cluster: ProcCluster
    n: int = 200
    acked: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    unknown_why: list[str] = field(default_factory=list)  # what made each outcome unknown
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def under_way(self, running: asyncio.Task[None], calls: int = 100) -> int:
        """Wait until `calls` more calls have completed while `running` goes on, then check it
        still runs: a fault injected right after this lands under load. Returns the count of
        calls completed so far (compare after the run: calls completed after the fault)."""
        async with self._progress:
            target = self.requests + calls
            await self._progress.wait_for(lambda: self.requests >= target or running.done())
        assert not running.done(), "the load ended before the fault could land under it"
        return self.requests

    async def call(
        self,
        s: aiohttp.ClientSession,
        actor: str,
        action: str,
        body: Any,
        deadline: float = 30.0,
        read: bool = False,
    ) -> tuple[str, Any]:
        """('ok', reply) | ('unknown', why) | ('failed', why). Retries only what was not applied:
        503 (refused before running) and refused connections (never delivered); a `read` is also
        asked again after an unknown outcome (504, a reset connection), since it changes nothing."""
        t0 = time.monotonic()
        k = hash(actor)
        path = f"/v1/systems/{self.cluster.system}/actors/{actor}/actions/{action}?parent=counter"
        last = ""
        while time.monotonic() - t0 < deadline:
            urls = self.cluster.live_urls()
            url = urls[k % len(urls)]
            k += 1
            try:
                async with s.post(url + path, json=body) as r:
                    data = await r.json()
                    if r.status == 200:
                        return "ok", data
                    last = f"{r.status} {data}"
                    if r.status == 504 and not read:  # "outcome unknown" (e.g. the owner died)
                        return "unknown", last
                    if r.status == 504:  # a read changes nothing: ask again
                        await asyncio.sleep(0.1)
                        continue
                    if r.status != 503:
                        return "failed", last
            except aiohttp.ClientConnectorError as exc:
                last = repr(exc)  # not delivered: safe to try another node
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not read:
                    return "unknown", repr(exc)
                last = repr(exc)  # a read may simply be asked again
            await asyncio.sleep(0.1)
        return "failed", f"deadline: {last}"

    async def run(
        self, rounds: int, concurrency: int = 16, until: asyncio.Event | None = None
    ) -> None:
        """`rounds` increments of every counter; with `until`, more rounds after those until it
        is set (a fault's test keeps the load on until the fault has played out)."""
        queue: asyncio.Queue[str] = asyncio.Queue()

        def one_round() -> None:
            for i in range(self.n):
                queue.put_nowait(f"ctr-{i}")

        for _ in range(rounds):
            one_round()
        connector = aiohttp.TCPConnector(force_close=True)  # a fresh connection per call
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:

            async def worker() -> None:
                while True:
                    if queue.empty():
                        if until is None or until.is_set():
                            return
                        one_round()
                    actor = queue.get_nowait()
                    t0 = time.monotonic()
                    outcome, data = await self.call(s, actor, "add", {"value": 1})
                    self.requests += 1
                    async with self._progress:
                        self._progress.notify_all()
                    if outcome == "ok":
                        self.acked[actor] += 1
                        self.latencies.append(time.monotonic() - t0)
                    elif outcome == "unknown":
                        self.unknown[actor] += 1
                        self.unknown_why.append(f"{actor}: {data}")
                    else:
                        self.failures.append(f"{actor}: {data}")

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        async with aiohttp.ClientSession() as s:
            for i in range(self.n):
                outcome, data = await self.call(s, f"ctr-{i}", "get", None, read=True)
                assert outcome == "ok", f"ctr-{i} does not answer: {data}"
                out[f"ctr-{i}"] = int(data["total"])
        return out
