"""Batched flushes and concurrent writers: many rows per round trip, one winner per revision."""

from __future__ import annotations

import asyncio
import time

from roost.statestore import ActorKey, StateStore, WriteItem
from tests.statestore.harness import LONG, Harness

FLUSH_ROWS = 10_000
# The target is 2 s to local PostgreSQL (bench/stores.py measures it); this bound only catches
# a flush that went back to one round trip per row on a loaded CI machine.
FLUSH_BOUND_S = 8.0


async def acquire_all(stores: list[StateStore], keys: list[ActorKey], node: str) -> None:
    """Take many leases, spread over a few connections (setup, not what is measured)."""
    queue: asyncio.Queue[ActorKey] = asyncio.Queue()
    for k in keys:
        queue.put_nowait(k)

    async def worker(store: StateStore) -> None:
        while not queue.empty():
            await store.acquire(queue.get_nowait(), node, LONG)

    await asyncio.gather(*(worker(stores[i % len(stores)]) for i in range(8)))


async def test_flush_of_ten_thousand_rows(h: Harness) -> None:
    keys = [h.key(f"actor-{i:05}") for i in range(FLUSH_ROWS)]
    await acquire_all([h.store], keys, "n1")
    items = [WriteItem(k, b'{"total": %d}' % i, 0) for i, k in enumerate(keys)]
    started = time.perf_counter()
    assert await h.store.write("n1", items, LONG) == [1] * FLUSH_ROWS
    assert time.perf_counter() - started < FLUSH_BOUND_S
    assert await h.store.renew("n1", keys, LONG) == set()
    second = [WriteItem(k, b"released", 1, release=True) for k in keys]
    assert await h.store.write("n1", second, LONG) == [2] * FLUSH_ROWS
    assert len(await h.store.scan(None, FLUSH_ROWS + 1)) == FLUSH_ROWS
    sample = await h.store.read(keys[1234])
    assert sample is not None and (sample.data, sample.revision, sample.owner) == (
        b"released",
        2,
        None,
    )


async def test_one_compare_and_set_wins_per_revision(h: Harness) -> None:
    k = h.key("hot")
    stores = [await h.another() for _ in range(4)]
    await h.store.acquire(k, "n1", LONG)
    for revision in range(10):
        # A duplicated activation of the same node on several connections: same owner, same
        # expected revision, different states. Exactly one may land.
        results = await asyncio.gather(
            *(
                stores[i % 4].write(
                    "n1", [WriteItem(k, f"w{revision}-{i}".encode(), revision)], LONG
                )
                for i in range(8)
            )
        )
        winners = [i for i, r in enumerate(results) if r == [revision + 1]]
        assert len(winners) == 1, results
        assert all(r == [None] for i, r in enumerate(results) if i != winners[0])
        row = await h.store.read(k)
        assert row is not None and row.data == f"w{revision}-{winners[0]}".encode()


async def test_concurrent_flushes_of_different_nodes(h: Harness) -> None:
    a_keys = [h.key(f"a{i}") for i in range(500)]
    b_keys = [h.key(f"b{i}") for i in range(500)]
    other = await h.another()
    await acquire_all([h.store], a_keys, "na")
    await acquire_all([other], b_keys, "nb")
    results = await asyncio.gather(
        h.store.write("na", [WriteItem(k, b"a", 0) for k in a_keys], LONG),
        other.write("nb", [WriteItem(k, b"b", 0) for k in b_keys], LONG),
        # a node writing keys it does not own, at the same time, must change nothing
        other.write("nb", [WriteItem(k, b"intruder", 0) for k in a_keys], LONG),
    )
    assert results[0] == [1] * 500
    assert results[1] == [1] * 500
    assert results[2] == [None] * 500
    row = await h.store.read(a_keys[17])
    assert row is not None and row.data == b"a"


async def test_flush_of_more_state_than_one_statement_carries(h: Harness) -> None:
    # 20 MiB in one write: above MariaDB's default 16 MiB packet, so it must be split into
    # several statements inside the one transaction, and still land whole.
    keys = [h.key(f"big-{i:02}") for i in range(20)]
    await acquire_all([h.store], keys, "n1")
    states = [bytes([i]) * (1024 * 1024) for i in range(20)]
    items = [WriteItem(k, s, 0) for k, s in zip(keys, states, strict=True)]
    assert await h.store.write("n1", items, LONG) == [1] * 20
    for k, s in zip(keys, states, strict=True):
        row = await h.store.read(k)
        assert row is not None and row.data == s
