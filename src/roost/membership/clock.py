"""Time as a dependency, and the backoff schedule every retry loop in this package uses.

`Clock` is injected so retry loops can be driven by a fake clock in tests; `Backoff` is pure (it
takes a `random.Random`), so its schedule is reproducible from a seed.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    """Monotonic time and sleeping. Implementations need not be thread-safe (one event loop)."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.monotonic` and `asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter on the upper half: delay n is in [d/2, d], d = min(cap,
    initial * factor**n). Half-jitter keeps retries of many nodes apart without ever retrying at
    once. `reset()` after a success."""

    initial: float = 0.2
    cap: float = 5.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0


async def wait_event(event: asyncio.Event, seconds: float, clock: Clock) -> None:
    """Return when `event` is set or `seconds` have passed on `clock`, whichever is first."""
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
