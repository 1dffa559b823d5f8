"""One live actor: its state, its revision in the store, and its turn (a FIFO mailbox).

Turns: `busy` says a turn runs. A caller that finds the actor idle takes the turn at once, in its
own task (no queue hop on the fast path); others wait in `waiters`, FIFO, and the finishing turn
hands the turn straight to the next waiter, so no newcomer can barge in between. The queue is
bounded by the type's `max_mailbox`: the runtime refuses a call that finds it `full` rather than
letting it wait (backpressure; the node's own turns that jump the queue are never refused). When an
activation is closed (idle deactivation, handoff, lost lease) every waiter wakes, sees `closed`,
and starts its invocation again from routing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from roost.sdk.actor import ActorType
from roost.sdk.context import ActorId
from roost.statestore.base import ActorKey


class Activation:
    __slots__ = (
        "actor_id",
        "blob",
        "busy",
        "closed",
        "closed_reason",
        "dirty_since",
        "instance",
        "key",
        "last_used",
        "persisted",
        "revision",
        "seen",
        "snap_due",
        "state",
        "turn_deferred",
        "type",
        "valid_until",
        "waiters",
        "writing",
    )

    def __init__(
        self,
        key: ActorKey,
        actor_type: ActorType,
        actor_id: ActorId,
        instance: Any,
        state: Any,
        blob: bytes | None,
        revision: int,
        now: float,
    ) -> None:
        self.key = key
        self.type = actor_type
        self.actor_id = actor_id
        self.instance = instance
        self.state = state
        self.blob = blob  # encoded current state (None: never had one)
        self.persisted = blob  # encoded state as last written (or loaded)
        self.revision = revision
        self.busy = False
        self.turn_deferred = False  # a cancelled turn's write ends the turn when it completes
        self.closed = False
        self.closed_reason = ""
        self.waiters: deque[asyncio.Future[None]] | None = None
        self.writing: asyncio.Future[None] | None = None
        self.last_used = now
        self.dirty_since: float | None = None
        self.snap_due = False  # queued in the snapshot schedule
        self.seen: deque[str] | None = None  # broadcast ids delivered (channel subscribers)
        # until when (this node's monotonic clock) the lease is surely ours: the moment the
        # acquire/renew/write that set it was *sent*, plus the lease, minus a margin for drift
        self.valid_until = now

    @property
    def dirty(self) -> bool:
        return self.blob is not self.persisted and self.blob != self.persisted

    @property
    def queued(self) -> int:
        return len(self.waiters) if self.waiters else 0

    @property
    def full(self) -> bool:
        """`max_mailbox` calls already wait: one more would pass the bound, so it is refused."""
        waiters = self.waiters
        return waiters is not None and len(waiters) >= self.type.max_mailbox

    async def wait_turn(self, *, front: bool = False) -> None:
        """Wait until the turn is handed to us; the caller then owns `busy`. `front` jumps the
        queue (deactivation and handoff go right after the current turn)."""
        waiters = self.waiters
        if waiters is None:
            waiters = self.waiters = deque()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if front:
            waiters.appendleft(fut)
        else:
            waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.end_turn()  # the turn was handed to us as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
            raise

    def end_turn(self) -> None:
        """Hand the turn to the next live waiter, or mark the actor idle."""
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.busy = False

    def close(self, reason: str) -> None:
        """No more turns here. Waiters are woken one by one as turns end, see `closed`, retry."""
        self.closed = True
        self.closed_reason = reason
