"""A drain under load ends in a time that does not depend on the load (issue 23).

Keep-alive clients used to hold a draining node open: closing the listener refuses only new
connections, so every client (and every peer's connection pool) kept sending calls on the
connection it had, each call kept `inflight` above zero, and the drain waited for a stream
that never ended, until `--drain-timeout`. Now, once its listener is closed, a draining node
answers every call with `Connection: close`: an open connection carries at most one more call.
A real `Node` (SQLite, one process) and aiohttp clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from roost import Actor, Context, Value, action
from roost.node.config import NodeConfig
from roost.node.node import Node
from tests.conftest import free_port

SYSTEM = "spawn-system"
A = f"/v1/systems/{SYSTEM}/actors"


class Waiter(Actor):
    """Pooled (no activation to hand off): `wait` stays in flight until `release` is set."""

    name = "waiter"
    kind = "pooled"
    max_pool_size = 32  # a `ping` never waits behind a held `wait`
    release: asyncio.Event | None = None
    entered: asyncio.Event | None = None

    @action
    async def wait(self, ctx: Context) -> Value:
        assert Waiter.release is not None and Waiter.entered is not None
        Waiter.entered.set()
        await Waiter.release.wait()
        return Value().response("done")

    @action
    async def ping(self, ctx: Context) -> Value:
        return Value().response("pong")


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    Waiter.release, Waiter.entered = asyncio.Event(), asyncio.Event()
    cfg = NodeConfig(
        node_id="drain-load",
        http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db",
        statestore_key=key,
        drain_timeout=20.0,
        proxy_http="off",
    )
    n = Node(cfg, actor_classes=[Waiter])
    await n.start()
    try:
        yield n
    finally:
        Waiter.release.set()
        if not n.draining:
            await n.drain()


async def post(session: aiohttp.ClientSession, url: str) -> tuple[int, str | None]:
    async with session.post(url, json={}) as r:
        await r.read()
        return r.status, r.headers.get("Connection")


async def refused(url: str) -> None:
    """Until the node's listener refuses new connections (it has no event to await)."""
    host, port = url.removeprefix("http://").split(":")
    async with asyncio.timeout(10):
        while True:
            try:
                _, w = await asyncio.open_connection(host, int(port))
            except (ConnectionRefusedError, ConnectionResetError):
                return
            w.close()
            await asyncio.sleep(0.01)


async def test_a_kept_connection_carries_at_most_one_more_call_into_a_drain(node: Node) -> None:
    base = f"http://{node.config.http}"
    # one connection per session, reused: what a keep-alive client or a peer's pool does
    keep = aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=1))
    busy = aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=1))
    try:
        assert await post(keep, f"{A}/waiter/actions/ping") == (200, None)  # open, kept alive
        assert Waiter.entered is not None and Waiter.release is not None
        in_flight = asyncio.ensure_future(post(busy, f"{A}/waiter/actions/wait"))
        await Waiter.entered.wait()
        t0 = time.monotonic()
        drain = asyncio.ensure_future(node.drain())  # waits for the call in flight
        await refused(base)
        # the kept connection still carries one call; its answer closes the connection...
        status, conn = await post(keep, f"{A}/waiter/actions/ping")
        assert conn == "close" and status in (200, 503)
        # ...so the next call finds the listener closed and goes elsewhere
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(keep, f"{A}/waiter/actions/ping")
        assert not drain.done()
        Waiter.release.set()
        # the call in flight is answered, and its connection is not kept for another call
        assert await in_flight == (200, "close")
        assert await drain == 0
        assert time.monotonic() - t0 < 10.0
        assert node.drain_arrivals == 1
    finally:
        await keep.close()
        await busy.close()


async def test_answers_close_their_connection_once_the_listener_is_closed(node: Node) -> None:
    """While the handoff runs (listener open) a keep-alive client keeps its connection: told to
    reconnect, it would reconnect here, into a backlog that is reset when the listener closes.
    Once the listener is closed, every answer closes its connection."""
    async with aiohttp.ClientSession(f"http://{node.config.http}") as s:
        node.draining = True  # what Node._drain sets first
        try:
            assert await post(s, f"{A}/waiter/actions/ping") == (200, None)
            node.closing = True  # what Node._drain sets once the listener is closed
            assert await post(s, f"{A}/waiter/actions/ping") == (200, "close")
        finally:
            node.draining = node.closing = False


async def test_drain_time_does_not_grow_with_keep_alive_load(node: Node) -> None:
    """16 keep-alive clients calling in a loop: the drain still ends within seconds, well
    before `--drain-timeout`, instead of waiting for a stream of calls that never ends."""
    base = f"http://{node.config.http}"
    stop = asyncio.Event()
    served: list[int] = []

    async def client() -> None:
        async with aiohttp.ClientSession(base) as s:
            while not stop.is_set():
                try:
                    status, _ = await post(s, f"{A}/waiter/actions/ping")
                    served.append(status)
                except aiohttp.ClientConnectionError:
                    return  # refused: a real client goes to another node
                await asyncio.sleep(0)

    clients = [asyncio.ensure_future(client()) for _ in range(16)]
    try:
        async with asyncio.timeout(10):
            while len(served) < 200:  # under load
                await asyncio.sleep(0.01)
        t0 = time.monotonic()
        assert await node.drain() == 0
        took = time.monotonic() - t0
    finally:
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)
    assert took < 5.0, f"drain took {took:.1f}s under load"
    assert {*served} <= {200, 503}
