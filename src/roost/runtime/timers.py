"""Timer actions: pure scheduling of ticks (no asyncio, no clock of its own).

An activation of a type with `timers` is armed when it activates; each timer fires every
`every_ms` while the activation lives. A tick is one ordinary turn (it waits in the mailbox like
any call). If the previous tick of the same timer has not finished, the next one is skipped rather
than queued, so a slow action cannot build up a backlog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from roost.runtime.schedule import DeadlineQueue
from roost.sdk.workflow import Timer

T = TypeVar("T")


@dataclass(eq=False, slots=True)
class Tick(Generic[T]):
    owner: T
    timer: Timer
    running: bool = False


class TimerWheel(Generic[T]):
    def __init__(self) -> None:
        self._q: DeadlineQueue[Tick[T]] = DeadlineQueue()

    def __len__(self) -> int:
        return len(self._q)

    def arm(self, owner: T, timers: Iterable[Timer], now: float) -> None:
        for timer in timers:
            self._q.push(now + timer.every_ms / 1000.0, Tick(owner, timer))

    def due(self, now: float) -> list[Tick[T]]:
        """Ticks to run now. The caller re-arms each one it keeps (`rearm`) and drops the ticks
        of activations that are gone."""
        return self._q.pop_due(now)

    def rearm(self, tick: Tick[T], now: float) -> None:
        self._q.push(now + tick.timer.every_ms / 1000.0, tick)

    def next_deadline(self) -> float | None:
        return self._q.next_deadline()
