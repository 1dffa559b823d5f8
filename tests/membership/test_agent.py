"""The serf agent supervisor: relaunch on death, clean stop, no orphans, secrets off argv."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
import sys
from pathlib import Path

import pytest

from roost.membership import SerfAgent, SerfRPC, SerfSettings, gossip_key, rpc_token
from roost.membership.errors import SerfAgentError

from .conftest import SECRET, SERF_BIN, free_port

pytestmark = [pytest.mark.serf, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]


def make_agent(tmp_path: Path, port: int | None = None, serf_bin: str = SERF_BIN) -> SerfAgent:
    settings = SerfSettings(
        node_id="sup",
        gossip_bind=f"127.0.0.1:{port or free_port()}",
        serf_bin=serf_bin,
        log_level="warn",
    )
    return SerfAgent(
        settings,
        tmp_path / "work",
        rpc_token=rpc_token(SECRET),
        keys=[gossip_key(SECRET)],
        tags=lambda: {"status": "joining"},
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


async def wait_gone(pid: int, within: float) -> None:
    """Wait for `pid` to exit, woken by its pidfd (readable once the process has ended)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    loop.add_reader(fd, ended.set)
    try:
        async with asyncio.timeout(within):
            await ended.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def cmdline_of(pid: int | None) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode()


async def test_relaunches_a_killed_agent_and_counts_it(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    await agent.start()
    supervisor = asyncio.create_task(agent.supervise())
    try:
        first_pid, generation = agent.pid, agent.generation
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        async with asyncio.timeout(15):
            await agent.wait_launched(generation)
        assert agent.restarts == 1
        assert agent.pid not in (None, first_pid)
        client = await SerfRPC.connect(agent.rpc_addr, rpc_token(SECRET))
        try:
            assert (await client.stats()).agent_name == "sup"
        finally:
            await client.close()
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
    assert agent.pid is None  # cancelling the supervisor stops the child


async def test_stop_terminates_the_child(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    await agent.start()
    pid = agent.pid
    assert pid is not None
    await agent.stop()
    await wait_gone(pid, 5)


async def test_secrets_stay_off_the_command_line(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    await agent.start()
    try:
        cmdline = cmdline_of(agent.pid)
        assert rpc_token(SECRET) not in cmdline and gossip_key(SECRET) not in cmdline
        assert "-node=sup" in cmdline
        for name in ("agent.json", "keyring.json"):
            mode = (agent.work_dir / name).stat().st_mode
            assert stat.S_IMODE(mode) == 0o600, name
        assert stat.S_IMODE(agent.work_dir.stat().st_mode) == 0o700
    finally:
        await agent.stop()


async def test_missing_binary_says_what_to_do(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, serf_bin=str(tmp_path / "no-such-serf"))
    with pytest.raises(SerfAgentError, match="ROOST_SERF_BIN"):
        await agent.start()


async def test_gossip_port_in_use_fails_start_with_serf_output(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        agent = make_agent(tmp_path, port=busy.getsockname()[1])
        with pytest.raises(SerfAgentError, match="exited"):
            await agent.start()


async def test_kill_9_of_the_parent_takes_the_agent_down(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.membership.agent_child",
        SERF_BIN,
        str(tmp_path / "child"),
        str(free_port()),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    assert child.stdout is not None
    async with asyncio.timeout(20):
        serf_pid = int((await child.stdout.readline()).decode())
    assert alive(serf_pid)
    child.kill()  # SIGKILL: no Python cleanup runs
    await child.wait()
    try:
        await wait_gone(serf_pid, 5)
    finally:
        if alive(serf_pid):  # the test failed: do not leave the orphan running
            os.kill(serf_pid, signal.SIGKILL)
