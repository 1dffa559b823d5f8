"""A backend that goes away mid-run and comes back: calls fail with `StoreUnavailable` (never a
driver error), nothing is half-written, and the same store object works again afterwards."""

from __future__ import annotations

import asyncio
import os

import pytest

from roost.errors import StoreUnavailable
from roost.statestore import WriteItem
from tests.statestore.harness import LONG, Harness


async def test_outage_mid_flush_writes_nothing_and_the_store_recovers(h: Harness) -> None:
    store, outage = await h.broken_store()
    keys = [h.key(f"o{i:02}") for i in range(50)]
    for k in keys:
        await store.acquire(k, "n1", LONG)
    assert await store.write("n1", [WriteItem(k, b"v1", 0) for k in keys], LONG) == [1] * 50
    big = os.urandom(20_000)  # 1 MB in all: the cut lands inside the flush's statement
    flush = [WriteItem(k, big, 1) for k in keys]

    await outage.begin(midway_bytes=100_000)
    with pytest.raises(StoreUnavailable) as info:
        await store.write("n1", flush, LONG)
    assert info.value.retryable
    with pytest.raises(StoreUnavailable):
        await store.acquire(h.key("while-down"), "n1", LONG)
    with pytest.raises(StoreUnavailable):
        await store.write("n1", flush[:1], LONG)

    await outage.end()
    for k in keys:
        row = await store.read(k)
        assert row is not None and (row.data, row.revision) == (b"v1", 1), k
    assert await store.write("n1", flush, LONG) == [2] * 50
    row = await store.read(keys[-1])
    assert row is not None and row.data == big


async def test_store_unreachable_from_the_start_recovers(h: Harness) -> None:
    store, outage = await h.broken_store()
    await outage.begin()
    with pytest.raises(StoreUnavailable):
        await store.acquire(h.key("a"), "n1", LONG)
    await outage.end()
    assert (await store.acquire(h.key("a"), "n1", LONG)).owner == "n1"
    await store.ping()


async def test_sessions_killed_by_the_server_are_replaced(sql_h: Harness) -> None:
    h = sql_h
    keys = [h.key(f"k{i}") for i in range(20)]
    for k in keys:
        await h.store.acquire(k, "n1", LONG)
    assert await h.kill_server_side() >= 1
    # A pooled connection may not know yet that it is dead: its first use may fail, but only
    # with StoreUnavailable, and the pool must then replace it.
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(await h.store.write("n1", [WriteItem(k, b"x", 0) for k in keys], LONG))
        except StoreUnavailable:
            outcomes.append("unavailable")
    assert [1] * 20 in outcomes, outcomes
    landed = outcomes.index([1] * 20)
    assert set(map(str, outcomes[:landed])) <= {"unavailable"}
    assert all(o == [None] * 20 for o in outcomes[landed + 1 :])
    row = await h.store.read(keys[0])
    assert row is not None and row.revision == 1 and row.data == b"x"


async def test_calls_racing_close_end_in_store_unavailable(sql_h: Harness) -> None:
    h = sql_h
    store = await h.another()
    k = h.key("a")
    await store.acquire(k, "n1", LONG)

    async def reader() -> str:
        try:
            await store.read(k)
            return "read"
        except StoreUnavailable:
            return "unavailable"

    tasks = [asyncio.create_task(reader()) for _ in range(30)]
    await asyncio.sleep(0)  # let some of them take connections before the pool closes
    await store.close()
    outcomes = await asyncio.gather(*tasks)
    assert set(outcomes) <= {"read", "unavailable"}
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.read(k)
