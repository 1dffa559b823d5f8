"""A virtual-time asyncio event loop: time jumps to the next timer whenever nothing is ready.

Sleeps, timeouts and `loop.time()` all run on the virtual clock, so a minute of cluster life runs
in a fraction of a real second, and the order of events depends only on the code and the seed.
There is no real I/O in a simulation; the self-pipe is the only file descriptor polled.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("simulation deadlock: nothing is ready and no timer is pending")
        if timeout > 0:
            self._clock.now += timeout
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._vclock = _Clock()
        super().__init__(_JumpingSelector(self._vclock))

    def time(self) -> float:
        return self._vclock.now


def run(coro: Coroutine[Any, Any, T]) -> T:
    loop = VirtualTimeLoop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
