"""Run and supervise one `serf agent` child process.

The child gets its node name, bind/advertise addresses and tags as flags, and its secrets
(gossip keyring, RPC token) through files in a private work dir (mode 0700/0600), never on the
command line where `ps` would show them. Its RPC listens on a free loopback port chosen per
launch. It is tied to us three ways, so no serf process outlives the node:

- `stop()` sends SIGTERM, then SIGKILL after a grace period;
- Linux `PR_SET_PDEATHSIG`: the kernel kills it with SIGKILL when our process dies, even on
  ``kill -9`` (set in the child between fork and exec; the child checks that its parent is still
  the one that forked it, closing the race where we die before the call);
- it runs in its own session, so a Ctrl-C meant for the node does not make it leave on its own.

Concurrency: `start`, `supervise` and `stop` are called from one owner (`SerfMembership`);
`supervise` runs as one background task and is the only code that relaunches the child.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import json
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from roost.membership.clock import Backoff, Clock, SystemClock
from roost.membership.errors import SerfAgentError
from roost.membership.settings import SerfSettings

log = logging.getLogger("roost.membership.agent")
serf_log = logging.getLogger("roost.membership.serf")

_PR_SET_PDEATHSIG = 1
_STOP_GRACE = 5.0  # serf shuts down in well under a second; 5 s then SIGKILL
_STABLE_AFTER = 60.0  # a child that ran this long resets the restart backoff
_LEVEL = re.compile(r"\[(TRACE|DEBUG|INFO|WARN|WARNING|ERR|ERROR)\]")
_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERR": logging.ERROR,
    "ERROR": logging.ERROR,
}


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (a relaunch picks another if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec: no logging, no locks
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


class SerfAgent:
    """One supervised `serf agent` child. `restarts` counts unplanned relaunches (a metric)."""

    def __init__(
        self,
        settings: SerfSettings,
        work_dir: Path,
        *,
        rpc_token: str,
        keys: list[str],
        tags: Callable[[], Mapping[str, str]],
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.work_dir = work_dir
        self.restarts = 0
        self.generation = 0  # bumped by every successful launch
        self.rpc_addr = ""
        self._rpc_token = rpc_token  # "" = no RPC auth
        self._keys = keys
        self._tags = tags
        self._clock = clock or SystemClock()
        self._proc: asyncio.subprocess.Process | None = None
        self._log_task: asyncio.Task[None] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=20)
        self._exit_expected = False
        self._launched = asyncio.Condition()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    def expect_exit(self) -> None:
        """The child is about to exit on purpose (a graceful leave): do not relaunch it."""
        self._exit_expected = True

    async def start(self) -> None:
        """First launch; raises `SerfAgentError` (with serf's last log lines) if it fails."""
        self._exit_expected = False
        self._prepare_work_dir()
        await self._launch()

    async def supervise(self) -> None:
        """Relaunch the child whenever it dies unexpectedly, with backoff; stop it on cancel."""
        backoff = Backoff(initial=0.5, cap=30.0)
        try:
            while True:
                assert self._proc is not None
                started = self._clock.monotonic()
                code = await self._proc.wait()
                await self._join_log_task()
                if self._exit_expected:
                    log.info("serf agent exited (code %s) as asked", code)
                    return
                if self._clock.monotonic() - started > _STABLE_AFTER:
                    backoff.reset()
                self.restarts += 1
                log.error(
                    "serf agent exited unexpectedly (code %s, restart #%d): %s",
                    code,
                    self.restarts,
                    " | ".join(self._tail) or "no output",
                )
                while True:
                    await self._clock.sleep(backoff.next())
                    if self._exit_expected:  # a leave or stop came while we waited
                        return
                    try:
                        await self._launch()
                        break
                    except SerfAgentError as exc:
                        log.error("serf agent relaunch failed: %s", exc)
        except asyncio.CancelledError:
            await self.stop()
            raise

    async def wait_launched(self, after_generation: int) -> int:
        """Wait until a launch newer than `after_generation` is up; returns its generation."""
        async with self._launched:
            await self._launched.wait_for(lambda: self.generation > after_generation)
        return self.generation

    async def stop(self) -> None:
        """SIGTERM the child (it exits without leaving), SIGKILL after a grace period."""
        self._exit_expected = True
        await self._terminate()

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                async with asyncio.timeout(_STOP_GRACE):
                    await proc.wait()
            except TimeoutError:
                log.warning("serf agent ignored SIGTERM for %gs; killing it", _STOP_GRACE)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        await self._join_log_task()

    # -- internals ---------------------------------------------------------------------------

    def _prepare_work_dir(self) -> None:
        self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.work_dir, 0o700)
        keyring = self.work_dir / "keyring.json"
        if self._keys:
            # Exactly the configured keys, primary first: Serf encrypts with the first and
            # decrypts with any. Nothing from an earlier file is kept, so a secret dropped from
            # ROOST_CLUSTER_OLD_SECRETS stops being accepted at the next start.
            _write_private(keyring, json.dumps(self._keys))
        elif keyring.exists():
            keyring.unlink()  # insecure mode: a stale keyring would silently encrypt

    def _config(self, rpc_addr: str) -> dict[str, object]:
        s = self.settings
        config: dict[str, object] = {
            "rpc_addr": rpc_addr,
            "profile": s.profile,
            "snapshot_path": str(self.work_dir / "serf.snapshot"),
            "reconnect_interval": f"{s.reconnect_interval:g}s",
            "reconnect_timeout": f"{s.reconnect_timeout:g}s",
            "tombstone_timeout": f"{s.tombstone_timeout:g}s",
            "broadcast_timeout": f"{s.broadcast_timeout:g}s",
            "leave_on_terminate": False,  # SIGTERM = crash-like stop; leave() is explicit
            "skip_leave_on_interrupt": True,
        }
        if self._rpc_token:
            config["rpc_auth"] = self._rpc_token
        if self._keys:
            config["keyring_file"] = str(self.work_dir / "keyring.json")
        return config

    def _argv(self, config_path: Path) -> list[str]:
        s = self.settings
        argv = [
            s.serf_bin,
            "agent",
            f"-node={s.node_id}",
            f"-bind={s.gossip_bind}",
            f"-config-file={config_path}",
            f"-log-level={s.log_level}",
        ]
        if s.gossip_advertise:
            argv.append(f"-advertise={s.gossip_advertise}")
        argv += [f"-tag={k}={v}" for k, v in sorted(self._tags().items())]
        return argv

    async def _launch(self) -> None:
        self.rpc_addr = f"127.0.0.1:{free_loopback_port()}"
        config_path = self.work_dir / "agent.json"
        _write_private(config_path, json.dumps(self._config(self.rpc_addr), indent=2))
        self._tail.clear()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv(config_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except OSError as exc:
            raise SerfAgentError(
                f"cannot run {self.settings.serf_bin!r}: {exc}; install the Debian package "
                "'serf' or set ROOST_SERF_BIN"
            ) from exc
        self._proc = proc
        assert proc.stdout is not None
        self._log_task = asyncio.create_task(self._pump_log(proc.stdout), name="serf-agent-log")
        await self._wait_rpc(proc)
        async with self._launched:
            self.generation += 1
            self._launched.notify_all()
        log.info("serf agent pid %d up, rpc %s", proc.pid, self.rpc_addr)

    async def _wait_rpc(self, proc: asyncio.subprocess.Process) -> None:
        host, port = self.rpc_addr.rsplit(":", 1)
        deadline = self._clock.monotonic() + self.settings.agent_start_timeout
        while True:
            if proc.returncode is not None:
                await self._join_log_task()
                raise SerfAgentError(
                    f"serf agent exited with code {proc.returncode} during start-up: "
                    + (" | ".join(self._tail) or "no output")
                )
            try:
                _, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                if self._clock.monotonic() > deadline:
                    await self._terminate()
                    raise SerfAgentError(
                        f"serf agent RPC {self.rpc_addr} did not answer within "
                        f"{self.settings.agent_start_timeout:g}s: " + " | ".join(self._tail)
                    ) from None
                await self._clock.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    async def _pump_log(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").strip()
            if not text:
                continue
            self._tail.append(text)
            match = _LEVEL.search(text)
            level = _LEVELS[match.group(1)] if match else logging.INFO
            serf_log.log(level, "%s: %s", self.settings.node_id, text)

    async def _join_log_task(self) -> None:
        if self._log_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task
            self._log_task = None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
