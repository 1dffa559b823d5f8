"""Drain edge cases: a turn that never ends, the drain timeout, the last-resort flush, and the
exit code; in-process where possible, and `roost node` as a real process for two SIGTERMs.

Documented behaviour (src/roost/node/node.py, DESIGN.md "SIGTERM"): a drain that cannot finish
within `--drain-timeout`, or a second SIGTERM, makes one final flush of every activation's last
committed state and exits: 0 when everything dirty was written, 1 when something could not be.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.statestore import ActorKey
from roost.statestore.crypto import Keyring
from roost.statestore.encrypted import EncryptedStore
from roost.statestore.url import open_backend
from tests.conftest import free_port
from tests.node.slow_actor import Gate
from tests.node.test_process import NodeProc
from tests.node.test_process import http as http_call

SYSTEM = "spawn-system"
A = f"/v1/systems/{SYSTEM}/actors"
DRAIN_TIMEOUT = 0.5
# what the forced exit may add to the drain timeout: one final flush and closing down, on a
# shared 2-core CI machine; far below any drain timeout an operator would set
EXIT_SLACK = 2.0


def gate_signalling(entered: asyncio.Event) -> type[Gate]:
    class SignallingGate(Gate):
        async def entered(self) -> None:
            entered.set()

    return SignallingGate


class Held:
    """A node whose `gate` actor has committed state and then a turn held open forever."""

    def __init__(self, node: Node, url: str, key: str, session: aiohttp.ClientSession) -> None:
        self.node, self.url, self.key, self.session = node, url, key, session
        self.call: asyncio.Task[Any] | None = None
        self.drained = False

    async def drain(self) -> tuple[int, float]:
        """The drain's exit code and how long it took."""
        t0 = time.monotonic()
        self.drained = True
        code = await self.node.drain()
        return code, time.monotonic() - t0

    async def add(self, times: int) -> Any:
        reply = None
        for _ in range(times):
            async with self.session.post(f"{A}/gate/actions/add", json={}) as r:
                assert r.status == 200
                reply = await r.json()
        return reply

    async def hold(self, entered: asyncio.Event) -> None:
        async def post() -> None:
            async with self.session.post(f"{A}/gate/actions/hold", json={}) as r:
                await r.read()

        self.call = asyncio.ensure_future(post())
        async with asyncio.timeout(10):
            await entered.wait()

    async def stored(self, actor: str = "gate") -> tuple[Any, str | None]:
        """The actor's state and lease owner as the store has them (a fresh connection)."""
        store = EncryptedStore(open_backend(self.url), Keyring.from_text(self.key))
        try:
            row = await store.read(ActorKey(SYSTEM, actor))
        finally:
            await store.close()
        assert row is not None
        return (None if row.data is None else json.loads(row.data)), row.owner


@pytest.fixture
def entered() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def held(tmp_path: Path, key: str, entered: asyncio.Event) -> AsyncIterator[Held]:
    url = f"sqlite:///{tmp_path}/roost.db"
    cfg = NodeConfig(
        node_id="drain-test",
        http=f"127.0.0.1:{free_port()}",
        statestore=url,
        statestore_key=key,
        drain_timeout=DRAIN_TIMEOUT,
        proxy_http="off",
    )
    node = Node(cfg, actor_classes=[gate_signalling(entered)])
    await node.start()
    async with aiohttp.ClientSession(base_url=f"http://{cfg.http}") as session:
        h = Held(node, url, key, session)
        try:
            yield h
        finally:
            if h.call is not None:
                h.call.cancel()
                with contextlib.suppress(BaseException):
                    await h.call
            if not h.drained:
                await node.drain()


async def test_drain_timeout_flushes_the_last_committed_state_and_exits_0(
    held: Held, entered: asyncio.Event
) -> None:
    assert await held.add(2) == {"n": 2}
    await held.hold(entered)
    assert (await held.stored())[0] is None  # write-behind: nothing stored yet
    code, elapsed = await held.drain()
    assert code == 0
    assert DRAIN_TIMEOUT <= elapsed <= DRAIN_TIMEOUT + EXIT_SLACK, elapsed
    state, owner = await held.stored()
    assert state == {"n": 2}  # the held turn committed nothing; the two acked adds are kept
    assert owner is None  # and the lease was released for the next owner


async def test_drain_exits_1_when_the_final_flush_cannot_write(
    held: Held, entered: asyncio.Event
) -> None:
    assert await held.add(1) == {"n": 1}
    await held.hold(entered)
    # another node takes the actor over (as it may once Serf marks this one failed): this
    # node's fenced write must fail, and the drain must say that something was not flushed
    store = EncryptedStore(open_backend(held.url), Keyring.from_text(held.key))
    try:
        await store.acquire(ActorKey(SYSTEM, "gate"), "usurper", 60.0, steal_from=["drain-test"])
    finally:
        await store.close()
    code, elapsed = await held.drain()
    assert code == 1
    assert DRAIN_TIMEOUT <= elapsed <= DRAIN_TIMEOUT + EXIT_SLACK, elapsed
    assert await held.stored() == (None, "usurper")  # nothing overwritten behind its back


async def test_drain_that_finishes_in_time_exits_0_without_waiting_for_the_timeout(
    tmp_path: Path, key: str
) -> None:
    url = f"sqlite:///{tmp_path}/roost.db"
    cfg = NodeConfig(
        node_id="drain-test",
        http=f"127.0.0.1:{free_port()}",
        statestore=url,
        statestore_key=key,
        drain_timeout=30.0,
        proxy_http="off",
    )
    node = Node(cfg, actor_classes=[Gate])
    await node.start()
    async with aiohttp.ClientSession(base_url=f"http://{cfg.http}") as session:
        h = Held(node, url, key, session)
        assert await h.add(3) == {"n": 3}
        code, elapsed = await h.drain()
        assert code == 0
        assert elapsed < 5.0  # the graceful path does not sit out the timeout
        assert await h.stored() == ({"n": 3}, None)


# --- a real process ------------------------------------------------------------------------------


@pytest.fixture
def gate_node(tmp_path: Path, key: str) -> Iterator[NodeProc]:
    n = NodeProc(tmp_path, key, free_port())
    n.args[n.args.index("--actors") + 1] = "tests.node.slow_actor:Gate"
    n.args += ["--drain-timeout", "60", "--proxy-http", "off"]
    yield n
    if n.proc is not None and n.proc.poll() is None:
        n.proc.kill()
        n.proc.wait()


def _until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _ready_status(url: str) -> int | None:
    try:
        return http_call("GET", url + "/readyz")[0]
    except OSError:
        return None


def test_second_sigterm_forces_a_prompt_exit_after_the_final_flush(
    gate_node: NodeProc, tmp_path: Path
) -> None:
    gate_node.start()
    proc = gate_node.proc
    assert proc is not None
    url = gate_node.url
    for _ in range(2):
        assert http_call("POST", url + f"{A}/gate/actions/add", {})[0] == 200
    marker = tmp_path / "held"

    def hold() -> None:  # never answered: the node goes away under it
        with contextlib.suppress(OSError):
            http_call("POST", url + f"{A}/gate/actions/hold", {"marker": str(marker)})

    threading.Thread(target=hold, daemon=True).start()
    _until(marker.exists, 10.0, "the held turn to start")
    proc.send_signal(signal.SIGTERM)
    _until(lambda: _ready_status(url) == 503, 10.0, "readiness 503 (draining)")
    assert proc.poll() is None  # the drain waits for the held turn (timeout 60 s)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    elapsed = time.monotonic() - t0
    log = gate_node.log.read_text()
    assert code == 0, log  # the final flush wrote the committed state
    assert elapsed < EXIT_SLACK + 1.0, f"{elapsed:.1f}s after the second SIGTERM\n{log}"
    assert "second SIGTERM" in log
    gate_node.start()  # restarted: the two acknowledged adds are there
    assert http_call("GET", url + f"{A}/gate/state") == (200, {"n": 2})
    assert gate_node.stop() == 0


async def test_a_teardown_step_that_fails_is_logged_and_the_rest_still_runs(
    tmp_path: Path, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping the membership fails (a serf agent that died first): the drain logs it, still
    stops the core (the statestore is closed) and exits 0, since every state was flushed."""
    cfg = NodeConfig(
        node_id="teardown-test",
        http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db",
        statestore_key=key,
        proxy_http="off",
    )
    node = Node(cfg, actor_classes=[Gate])
    await node.start()
    closed = asyncio.Event()
    close = node.core.stop

    async def stop_core() -> None:
        await close()
        closed.set()

    async def broken_stop() -> None:
        raise RuntimeError("agent is gone")

    node.core.stop = stop_core  # type: ignore[method-assign]
    node.membership.stop = broken_stop  # type: ignore[method-assign]
    with caplog.at_level("WARNING", logger="roost.node"):
        assert await node.drain() == 0
    assert closed.is_set()
    assert any(
        "teardown: membership stop" in r.getMessage() and "agent is gone" in r.getMessage()
        for r in caplog.records
    )
