"""Pure bookkeeping for idle deactivation and write-behind snapshots (no asyncio, no clock).

Both are "deadline queues": a heap of (deadline, sequence, item). Touching an actor does not touch
the heap (it only stamps `last_used`); when an entry comes due, its real deadline is recomputed
and, if the actor was used meanwhile, it is pushed back. So an invocation costs nothing here, and
each idle actor costs one heap entry, re-examined once per timeout.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DeadlineQueue(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, deadline: float, item: T) -> None:
        heapq.heappush(self._heap, (deadline, next(self._seq), item))

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[T]:
        out: list[T] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            out.append(heapq.heappop(heap)[2])
        return out


class IdleTracker(Generic[T]):
    """Which activations have been idle for their timeout.

    `deadline_of(item)` gives the item's current idle deadline (last use + timeout), or None when
    the item is gone (closed) and should be forgotten.
    """

    def __init__(self, deadline_of: Callable[[T], float | None]) -> None:
        self._q: DeadlineQueue[T] = DeadlineQueue()
        self._deadline_of = deadline_of

    def __len__(self) -> int:
        return len(self._q)

    def track(self, item: T) -> None:
        d = self._deadline_of(item)
        if d is not None:
            self._q.push(d, item)

    def expired(self, now: float) -> list[T]:
        """Items whose idle deadline has passed; items used meanwhile are re-queued."""
        out: list[T] = []
        for item in self._q.pop_due(now):
            d = self._deadline_of(item)
            if d is None:
                continue
            if d <= now:
                out.append(item)
            else:
                self._q.push(d, item)
        return out

    def next_deadline(self) -> float | None:
        return self._q.next_deadline()


class SnapshotSchedule(Generic[T]):
    """Dirty activations, each due for a write `snapshot_timeout` after it first became dirty."""

    def __init__(self) -> None:
        self._q: DeadlineQueue[T] = DeadlineQueue()

    def __len__(self) -> int:
        return len(self._q)

    def schedule(self, item: T, now: float, timeout: float) -> None:
        self._q.push(now + timeout, item)

    def due(self, now: float) -> list[T]:
        return self._q.pop_due(now)

    def next_deadline(self) -> float | None:
        return self._q.next_deadline()
