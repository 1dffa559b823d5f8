"""Group commit: concurrent fenced writes of different actors share one statestore round trip.

While one batch is being written, newly submitted items wait and go together in the next one. At
low load a write goes out at once (a batch of one); under load batches grow by themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from roost.errors import RoostError, StoreUnavailable
from roost.statestore.base import StateStore, WriteItem

MAX_BATCH = 2000


class WriteCoalescer:
    def __init__(
        self,
        store: StateStore,
        node_id: str,
        lease_s: Callable[[], float],
        on_batch: Callable[[int, float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._store = store
        self._node_id = node_id
        self._lease_s = lease_s
        self._pending: list[tuple[WriteItem, asyncio.Future[int | None]]] = []
        self._running = False
        self._on_batch = on_batch
        self._clock = clock

    async def write(self, item: WriteItem) -> int | None:
        """The new revision, or None when the compare-and-set failed. Raises StoreUnavailable."""
        fut: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def write_many(self, items: Sequence[WriteItem]) -> list[int | None]:
        """Write a large batch directly (shutdown flush, snapshots), in chunks."""
        out: list[int | None] = []
        for i in range(0, len(items), MAX_BATCH):
            out.extend(await self._timed(list(items[i : i + MAX_BATCH])))
        return out

    async def _timed(self, items: list[WriteItem]) -> list[int | None]:
        t0 = self._clock() if self._clock else 0.0
        result = await self._store.write(self._node_id, items, self._lease_s())
        if self._on_batch is not None and self._clock is not None:
            self._on_batch(len(items), self._clock() - t0)
        return result

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    results = await self._timed([it for it, _ in batch])
                except RoostError as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                except Exception as exc:  # a bug in an adapter must not strand the callers
                    err = StoreUnavailable(f"statestore write failed: {exc!r}")
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                for (_, fut), rev in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(rev)
        finally:
            self._running = False
