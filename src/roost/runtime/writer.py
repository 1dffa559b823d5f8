"""Group commit: concurrent statestore calls of different actors share one round trip.

While one batch is in flight, newly submitted items wait and go together in the next one. At low
load a call goes out at once (a batch of one); under load batches grow by themselves. No caller
ever waits for anything but its own batch, so callers that hold an actor's turn while they wait
can never deadlock with each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from roost.errors import RoostError, StoreUnavailable
from roost.statestore.base import ActorKey, StateStore, WriteItem

MAX_BATCH = 2000

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Batches `submit` calls into `run_batch(items) -> results` (one result per item)."""

    def __init__(
        self,
        run_batch: Callable[[list[T]], Awaitable[Sequence[R]]],
        on_batch: Callable[[int, float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._on_batch = on_batch
        self._clock = clock

    async def submit(self, item: T) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def many(self, items: Sequence[T]) -> list[R]:
        """Run a large batch directly (snapshots, flushes), in chunks of `MAX_BATCH`."""
        out: list[R] = []
        for i in range(0, len(items), MAX_BATCH):
            out.extend(await self._timed(list(items[i : i + MAX_BATCH])))
        return out

    async def _timed(self, items: list[T]) -> Sequence[R]:
        t0 = self._clock() if self._clock else 0.0
        result = await self._run_batch(items)
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
                    _fail(batch, exc)
                    continue
                except Exception as exc:  # a bug in an adapter must not strand the callers
                    _fail(batch, StoreUnavailable(f"statestore call failed: {exc!r}"))
                    continue
                for (_, fut), res in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(res)
        finally:
            self._task = None


def _fail(batch: Sequence[tuple[object, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, fut in batch:
        if not fut.done():
            fut.set_exception(exc)


class WriteCoalescer(Coalescer[WriteItem, "int | None"]):
    """Fenced writes: each result is the new revision, or None when the compare-and-set failed."""

    def __init__(
        self,
        store: StateStore,
        node_id: str,
        lease_s: Callable[[], float],
        on_batch: Callable[[int, float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        async def write(items: list[WriteItem]) -> list[int | None]:
            return await store.write(node_id, items, lease_s())

        super().__init__(write, on_batch, clock)

    async def write(self, item: WriteItem) -> int | None:
        return await self.submit(item)

    async def write_many(self, items: Sequence[WriteItem]) -> list[int | None]:
        return await self.many(items)


class ReleaseCoalescer(Coalescer[ActorKey, None]):
    """Lease releases of clean activations (deactivation, handoff)."""

    def __init__(self, store: StateStore, node_id: str) -> None:
        async def release(keys: list[ActorKey]) -> list[None]:
            await store.release(node_id, keys)
            return [None] * len(keys)

        super().__init__(release)
