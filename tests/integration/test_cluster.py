"""Three real nodes (serf + PostgreSQL), 200 sync counters driven through every node, while a
fourth node joins, one node drains on SIGTERM, and one node is killed with -9."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.integration.procs import ProcCluster

pytestmark = [pytest.mark.integration, pytest.mark.serf, pytest.mark.postgres]


def _pg_up() -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[ProcCluster]:
    need(shutil.which("serf") is not None, "serf is not installed (apt-get install serf)")
    need(_pg_up(), "PostgreSQL is not running on 127.0.0.1:5432")
    c = ProcCluster(tmp_path, f"it-{uuid.uuid4().hex[:8]}")
    try:
        for i in (1, 2, 3):
            c.start(f"n{i}")
        for p in list(c.nodes.values()):
            await c.wait_ready(p)
        await c.wait_active(c.nodes["n1"], 3)
        yield c
    finally:
        await c.cleanup()


def _exact(load_acked: dict[str, int], totals: dict[str, int]) -> list[str]:
    return [f"{a}: total {totals[a]} != acked {load_acked.get(a, 0)}" for a in sorted(totals)
            if totals[a] != load_acked.get(a, 0)]  # fmt: skip


async def test_join_under_load_loses_nothing(cluster: ProcCluster) -> None:
    from tests.integration.procs import Load

    load = Load(cluster)
    await load.run(rounds=1)
    joined = asyncio.Event()
    running = asyncio.create_task(load.run(rounds=1, until=joined))
    at_fault = await load.under_way(running)
    n4 = cluster.start("n4")
    await cluster.wait_ready(n4)
    await cluster.wait_active(cluster.nodes["n1"], 4)
    await load.under_way(running)  # calls go on through the rebalance
    joined.set()
    await running
    assert load.requests > at_fault
    assert not load.failures, load.failures[:5]
    assert not load.unknown, load.unknown_why[:5]
    assert not _exact(load.acked, await load.totals())


async def test_sigterm_under_load_loses_nothing(cluster: ProcCluster) -> None:
    from tests.integration.procs import Load

    load = Load(cluster)
    await load.run(rounds=1)
    drained = asyncio.Event()
    running = asyncio.create_task(load.run(rounds=1, until=drained))
    at_fault = await load.under_way(running)
    cluster.signal("n2", signal.SIGTERM)
    assert await asyncio.to_thread(cluster.wait_exit, "n2") == 0
    await load.under_way(running)  # calls go on after it left
    drained.set()
    await running
    assert load.requests > at_fault
    assert not load.failures, load.failures[:5]
    assert not load.unknown, load.unknown_why[:5]
    assert not _exact(load.acked, await load.totals())
    log = cluster.nodes["n2"].log.read_text()
    assert "handed off" in log


async def test_kill9_under_load_keeps_acknowledged_updates(cluster: ProcCluster) -> None:
    from tests.integration.procs import Load

    load = Load(cluster)
    await load.run(rounds=1)
    recovered_ev = asyncio.Event()
    running = asyncio.create_task(load.run(rounds=1, until=recovered_ev))
    at_fault = await load.under_way(running)
    cluster.signal("n1", signal.SIGKILL)
    killed_at = time.monotonic()
    await load.under_way(running, calls=400)  # calls go on past the crash, on the survivors
    recovered_ev.set()
    await running
    assert load.requests > at_fault
    assert not load.failures, load.failures[:5]
    # every actor answers again within lease (10 s) + failure detection (~7 s) + slack
    totals = await load.totals()
    recovered = time.monotonic() - killed_at
    assert recovered < 10 + 7 + 15, f"took {recovered:.1f}s to serve every counter again"
    for actor, total in totals.items():
        acked, unknown = load.acked.get(actor, 0), load.unknown.get(actor, 0)
        assert acked <= total <= acked + unknown, (
            f"{actor}: total {total}, acked {acked}, unknown {unknown}"
        )
