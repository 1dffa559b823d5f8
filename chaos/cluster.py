"""`Cluster`: N real `roost node` processes (each starts its own serf agent), one per network
namespace, or all on 127.0.0.x in loopback mode; what process faults need (kill, SIGTERM,
SIGSTOP/SIGCONT, start again) and readiness probes.

Every node process is started with `PR_SET_PDEATHSIG`, so if the harness dies (even kill -9) its
nodes die with it, and each node's serf agent dies with its node the same way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from chaos.history import ACTOR_CLASSES
from chaos.netns import Topology

HTTP_PORT = 8800
PROXY_PORT = 8801
LINK_PORT = 8802  # the peer link: fixed, so a node restarted with its id keeps its address
LINK_PROXY_PORT = 8803  # its delay proxy, in scenarios with latency faults
GOSSIP_PORT = 7946
SYSTEM = "chaos"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


@dataclass(slots=True)
class NodeProc:
    index: int
    node_id: str
    host: str  # address the node binds (HTTP and gossip)
    netns: str | None
    log: Path
    proc: asyncio.subprocess.Process | None = None
    paused: bool = False
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{HTTP_PORT}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.returncode is None else None


@dataclass(slots=True)
class ClusterConfig:
    nodes: int
    prefix: str  # "rcx<pid>": node ids, namespaces
    run_dir: Path
    statestore: str
    topology: Topology | None  # None = loopback mode
    via_proxy: bool = False  # peers reach each node's HTTP through its delay proxy
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


class Cluster:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        t = cfg.topology
        self.nodes = [
            NodeProc(
                index=i,
                node_id=f"{cfg.prefix}-n{i + 1}",
                host=t.addr(i) if t else f"127.0.0.{11 + i}",
                netns=t.node(i) if t else None,
                log=cfg.run_dir / f"n{i + 1}.log",
            )
            for i in range(cfg.nodes)
        ]
        self.env = {
            **os.environ,
            "ROOST_STATESTORE_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "ROOST_CLUSTER_SECRET": secrets.token_hex(24),
            "ROOST_LOG_LEVEL": "info",
            # Node temp files (serf's work dir) go in the run dir, removed with it even when a
            # node was killed before it could clean up.
            "TMPDIR": str(cfg.run_dir),
            **cfg.env,
        }
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=5, connect=2),
                connector=aiohttp.TCPConnector(force_close=True),
            )
        return self._session

    def argv(self, n: NodeProc) -> list[str]:
        seeds = ",".join(f"{m.host}:{GOSSIP_PORT}" for m in self.nodes)
        argv = [
            sys.executable,
            "-m",
            "roost",
            "node",
            "--node-id",
            n.node_id,
            "--system",
            SYSTEM,
            "--actors",
            ",".join(ACTOR_CLASSES),
            "--http",
            f"{n.host}:{HTTP_PORT}",
            "--gossip",
            f"{n.host}:{GOSSIP_PORT}",
            "--link",
            f"{n.host}:{LINK_PORT}",
            "--seeds",
            seeds,
            "--statestore",
            self.cfg.statestore,
            *self.cfg.extra_args,
        ]
        if self.cfg.via_proxy:
            argv += ["--advertise", f"{n.host}:{PROXY_PORT}"]
            argv += ["--link-advertise", f"{n.host}:{LINK_PROXY_PORT}"]
        if n.netns:
            argv = ["ip", "netns", "exec", n.netns, *argv]
        return argv

    async def start(self, i: int) -> None:
        n = self.nodes[i]
        if n.pid is not None:
            raise RuntimeError(f"{n.node_id} is already running")
        with open(n.log, "ab") as log:  # noqa: ASYNC230 - a local log file, opened once per start
            log.write(f"\n=== chaos: start #{n.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            n.proc = await asyncio.create_subprocess_exec(
                *self.argv(n),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                preexec_fn=_die_with_parent,
                start_new_session=True,  # a Ctrl-C meant for the harness is not theirs
            )
        n.starts += 1
        n.paused = False

    async def wait_ready(self, i: int, timeout: float = 60.0) -> None:
        n = self.nodes[i]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if n.pid is None:
                raise RuntimeError(f"{n.node_id} exited during start-up: see {n.log}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session().get(f"{n.url}/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.25)  # readiness can only be polled
        raise RuntimeError(f"{n.node_id} not ready after {timeout:.0f}s: see {n.log}")

    async def start_all(self) -> None:
        await asyncio.gather(*(self.start(i) for i in range(len(self.nodes))))
        await asyncio.gather(*(self.wait_ready(i) for i in range(len(self.nodes))))

    async def kill(self, i: int) -> None:
        n = self.nodes[i]
        if n.proc is not None and n.proc.returncode is None:
            n.proc.kill()
            await n.proc.wait()
        n.paused = False

    async def term(self, i: int, timeout: float = 40.0) -> tuple[int | None, float]:
        """SIGTERM and wait for the exit; (exit code or None if it had to be killed, seconds)."""
        n = self.nodes[i]
        if n.proc is None or n.proc.returncode is not None:
            return n.proc.returncode if n.proc else None, 0.0
        t0 = time.monotonic()
        n.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(n.proc.wait(), timeout)
        except TimeoutError:
            await self.kill(i)
            return None, time.monotonic() - t0
        return code, time.monotonic() - t0

    def log_of_last_run(self, i: int) -> str:
        """The node's log since its latest start."""
        try:
            text = self.nodes[i].log.read_text(errors="replace")
        except OSError:
            return ""
        return text.rsplit("=== chaos: start", 1)[-1]

    def pause(self, i: int, sig: signal.Signals = signal.SIGSTOP) -> list[int]:
        """SIGSTOP (or SIGCONT) the node and its serf agent: the whole machine stalls."""
        n = self.nodes[i]
        if n.pid is None:
            return []
        pids = [n.pid, *descendants(n.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        n.paused = sig == signal.SIGSTOP
        return pids

    def resume(self, i: int) -> None:
        self.pause(i, signal.SIGCONT)

    async def stop_all(self) -> None:
        for i, n in enumerate(self.nodes):
            if n.paused:
                self.resume(i)
        await asyncio.gather(*(self.kill(i) for i in range(len(self.nodes))))
        if self._session is not None:
            await self._session.close()


def descendants(pid: int, parents_of: Mapping[int, int] | None = None) -> list[int]:
    """Every live process below `pid`; `parents_of` maps pid -> parent pid (default: /proc)."""
    table = _process_table() if parents_of is None else parents_of
    children: dict[int, list[int]] = {}
    for child, parent in table.items():
        children.setdefault(parent, []).append(child)
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _process_table() -> dict[int, int]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _ppid(int(entry))
            if ppid is not None:
                table[int(entry)] = ppid
    return table


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
