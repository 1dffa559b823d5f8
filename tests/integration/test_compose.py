"""Composition on three real nodes (serf + PostgreSQL): a timer keeps ticking after its actor is
handed off, and a scheduled call fires after the node that scheduled it was killed."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import need
from tests.integration.procs import ProcCluster
from tests.integration.test_cluster import _pg_up

pytestmark = [pytest.mark.integration, pytest.mark.serf, pytest.mark.postgres]

ACTORS = (
    ",".join(
        f"examples.composing:{c}"
        for c in ("Ticker", "Orders", "Audit", "Shipper", "Pricer", "Checkout")
    )
    + ",examples.counters:Incrementor"
)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[ProcCluster]:
    need(shutil.which("serf") is not None, "serf is not installed (apt-get install serf)")
    need(_pg_up(), "PostgreSQL is not running on 127.0.0.1:5432")
    c = ProcCluster(tmp_path, f"co-{uuid.uuid4().hex[:8]}", actors=ACTORS)
    try:
        for i in (1, 2, 3):
            c.start(f"n{i}")
        for p in list(c.nodes.values()):
            await c.wait_ready(p)
        await c.wait_active(c.nodes["n1"], 3)
        yield c
    finally:
        await c.cleanup()


async def call(s: aiohttp.ClientSession, c: ProcCluster, actor: str, action: str,
               body: Any = None, query: str = "") -> Any:  # fmt: skip
    for _ in range(100):
        url = c.live_urls()[0]
        path = f"/v1/systems/{c.system}/actors/{actor}/actions/{action}{query}"
        try:
            async with s.post(url + path, json=body) as r:
                if r.status == 503:
                    await asyncio.sleep(0.2)
                    continue
                assert r.status in (200, 202), await r.text()
                return await r.json()
        except aiohttp.ClientError:  # a node just killed; these calls are reads: try another
            await asyncio.sleep(0.2)
    raise AssertionError(f"{actor}.{action} never answered")


async def owner_of(s: aiohttp.ClientSession, c: ProcCluster, actor: str) -> str:
    url = c.live_urls()[0]
    async with s.get(f"{url}/v1/cluster/owner", params={"system": c.system, "actor": actor}) as r:
        return str((await r.json())["owner"])


async def test_timer_keeps_ticking_after_its_actor_is_handed_off(cluster: ProcCluster) -> None:
    async with aiohttp.ClientSession() as s:
        await call(s, cluster, "ticker", "get")  # activate: it ticks every 200 ms from now on
        owner = await owner_of(s, cluster, "ticker")
        deadline = time.monotonic() + 10
        while (await call(s, cluster, "ticker", "get"))["ticks"] < 3:
            assert time.monotonic() < deadline, "the ticker never ticked"
            await asyncio.sleep(0.1)
        cluster.signal(owner, signal.SIGTERM)  # hand it off
        assert await asyncio.to_thread(cluster.wait_exit, owner) == 0
        before = (await call(s, cluster, "ticker", "get"))["ticks"]
        assert await owner_of(s, cluster, "ticker") != owner
        deadline = time.monotonic() + 15
        while (await call(s, cluster, "ticker", "get"))["ticks"] < before + 5:
            assert time.monotonic() < deadline, "the ticker stopped after its handoff"
            await asyncio.sleep(0.2)


async def test_scheduled_call_fires_after_the_scheduling_node_is_killed(
    cluster: ProcCluster,
) -> None:
    async with aiohttp.ClientSession() as s:
        target = await owner_of(s, cluster, "incrementor")
        scheduler = next(n for n in cluster.nodes if n != target)
        url = cluster.nodes[scheduler].url
        path = f"/v1/systems/{cluster.system}/actors/incrementor/actions/add?delay_ms=1500"
        async with s.post(url + path, json={"value": 7}) as r:
            assert r.status == 202
        cluster.signal(scheduler, signal.SIGKILL)  # the node that scheduled it is gone
        deadline = time.monotonic() + 30
        while True:
            state = await call(s, cluster, "incrementor", "get_state")
            if state == {"total": 7}:
                break
            assert time.monotonic() < deadline, f"the scheduled call never fired: {state}"
            await asyncio.sleep(0.3)
        await asyncio.sleep(2.0)  # and it fired once
        assert await call(s, cluster, "incrementor", "get_state") == {"total": 7}
