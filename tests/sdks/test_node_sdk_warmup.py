"""Roost's Node.js SDK against a node, as a Spawn user's host runs: a named actor's timer ticks
with nobody calling it (warm-up at registration), and a broadcast reaches an idle named
subscriber exactly once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.statestore import ActorKey
from tests.conftest import free_port
from tests.sdks.nodesdk import node_sdk

SYSTEM = "spawn-system"

HOST = """
const spawn = require(process.env.SDK_DIST);
const { Value } = spawn;
const system = spawn.createSystem('spawn-system');
system
  .buildActor({
    name: 'js-ticker', initialState: { ticks: 0 }, timers: [{ action: 'tick', everyMs: 50 }],
  })
  .addAction('tick', (ctx) => Value.of().state({ ticks: ctx.state.ticks + 1 }));
system
  .buildActor({
    name: 'js-archive', initialState: { kept: [] }, channels: [{ topic: 'news', action: 'keep' }],
  })
  .addAction('keep', (ctx, p) => Value.of().state({ kept: [...ctx.state.kept, p] }));
system
  .buildActor({ name: 'js-news', initialState: {} })
  .addAction('publish', (ctx, p) => Value.of().broadcast('news', p));
system.register({ host: '127.0.0.1' })
  .then(() => console.log('registered'))
  .catch((e) => { console.log(`failed: ${e.message}`); process.exit(1); });
"""


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    cfg = NodeConfig(
        node_id="sdk-warmup", http=f"127.0.0.1:{free_port()}",
        proxy_http=f"127.0.0.1:{free_port()}", statestore=f"sqlite:///{tmp_path}/roost.db",
        statestore_key=key, request_timeout=5.0,
    )  # fmt: skip
    n = Node(cfg, actor_classes=[])
    await n.start()
    yield n
    await n.drain()


@pytest.fixture
def js_host(node: Node, tmp_path: Path) -> Any:
    binary, sdk = node_sdk()
    script = tmp_path / "host.js"
    script.write_text(HOST)
    assert node.config.proxy_http is not None
    env = {
        **os.environ,
        "SDK_DIST": str(sdk / "dist" / "src"),
        "PROXY_HTTP_PORT": node.config.proxy_http.rsplit(":", 1)[1],
        "USER_FUNCTION_PORT": str(free_port()),
    }
    proc = subprocess.Popen(
        [binary, str(script)], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


async def state(node: Node, actor: str) -> Any:
    url = f"http://{node.config.http}/v1/systems/{SYSTEM}/actors/{actor}/actions/get_state"
    async with aiohttp.ClientSession() as s, s.post(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def until(check: Callable[[], Any], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_timer_ticks_and_an_idle_named_subscriber_gets_a_broadcast_once(
    node: Node, js_host: subprocess.Popen[str]
) -> None:
    assert js_host.stdout is not None
    line = await asyncio.to_thread(js_host.stdout.readline)
    assert line.startswith("registered"), line
    rt = node.core.runtime

    async def warmed() -> bool:  # nobody called them: the registration warmed them up
        return (
            ActorKey(SYSTEM, "js-ticker") in rt.active
            and ActorKey(SYSTEM, "js-archive") in rt.active
        )

    await until(warmed)

    async def ticked() -> bool:
        return bool((await state(node, "js-ticker"))["ticks"] >= 2)

    await until(ticked)
    await rt.deactivate([rt.active[ActorKey(SYSTEM, "js-archive")]], "idle")
    url = f"http://{node.config.http}/v1/systems/{SYSTEM}/actors/js-news/actions/publish"
    async with aiohttp.ClientSession() as s, s.post(url, json={"n": 1}) as r:
        assert r.status == 200, await r.text()

    async def delivered() -> bool:
        return bool((await state(node, "js-archive"))["kept"])

    await until(delivered)
    await asyncio.gather(*rt.tasks)
    assert (await state(node, "js-archive"))["kept"] == [{"n": 1}]
