"""Persistence and the end of an activation's life: fenced writes, write-behind snapshots,
deactivation (idle, handoff, drain), lease renewal, and the last-resort flush.

A mixin of `Runtime` (split out by concern; it owns no state of its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from roost.errors import RoostError, StateConflict, StoreUnavailable
from roost.runtime.activation import Activation
from roost.statestore.base import WriteItem

if TYPE_CHECKING:
    from collections.abc import Callable

    from roost.metrics import Metrics
    from roost.runtime.schedule import IdleTracker, SnapshotSchedule
    from roost.runtime.writer import ReleaseCoalescer, WriteCoalescer
    from roost.statestore.base import ActorKey, StateStore

log = logging.getLogger("roost.runtime")


class Lifecycle:
    # provided by Runtime
    lease_valid: float
    node_id: str
    store: StateStore
    metrics: Metrics
    clock: Callable[[], float]
    lease_s: float
    active: dict[ActorKey, Activation]
    writer: WriteCoalescer
    releaser: ReleaseCoalescer
    accepting: bool
    _activating: dict[ActorKey, asyncio.Future[Activation]]
    _idle: IdleTracker[Activation]
    _snaps: SnapshotSchedule[Activation]

    if TYPE_CHECKING:  # Composition's, provided by Runtime. A stub outside TYPE_CHECKING would
        # come first in Runtime's MRO and hide the real method (a silent no-op).

        def unsubscribe(self, act: Activation) -> None: ...

    # --- persistence --------------------------------------------------------------------------

    async def _persist(self, act: Activation) -> None:
        """Write the activation's current state, fenced; one write in flight per activation."""
        while act.writing is not None:
            await asyncio.shield(act.writing)
        if not act.dirty:
            return
        if act.closed and act.closed_reason == "lease_lost":
            raise StateConflict(f"{act.key}: ownership was lost")
        blob = act.blob
        assert blob is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        act.writing = done
        sent = self.clock()
        try:
            rev = await self.writer.write(WriteItem(act.key, blob, act.revision))
        finally:
            act.writing = None
            done.set_result(None)
        if rev is None:
            self._lost(act)
            raise StateConflict(f"{act.key}: the stored revision or owner moved; stepping down")
        act.revision = rev
        act.persisted = blob
        act.valid_until = sent + self.lease_valid  # a landed write extended the lease
        self.metrics.bump(self.metrics.snapshot_writes, (act.key.system, act.type.name))

    def _lost(self, act: Activation) -> None:
        """Another node owns the actor now: drop the activation without writing anything."""
        self.metrics.bump(self.metrics.cas_conflicts, (act.key.system, act.type.name))
        self._forget(act, "lease_lost")
        log.warning("lost ownership of %s; activation dropped", act.key)

    def _forget(self, act: Activation, reason: str) -> None:
        act.close(reason)
        if self.active.get(act.key) is act:
            del self.active[act.key]
        if act.type.channels:
            self.unsubscribe(act)
        self.metrics.bump(self.metrics.deactivations, (act.key.system, act.type.name, reason))

    def _on_write_batch(self, n: int, seconds: float) -> None:
        self.metrics.snapshot_latency.observe(seconds)

    async def snapshot_due(self, now: float | None = None) -> int:
        """Write every activation whose write-behind deadline has passed. Returns rows written."""
        now = self.clock() if now is None else now
        due = self._snaps.due(now)
        batch: list[Activation] = []
        for act in due:
            act.snap_due = False
            if act.closed or not act.dirty:
                continue
            if act.writing is not None:  # a sync/checkpoint write is in flight: look again soon
                act.snap_due = True
                self._snaps.schedule(act, now, min(1.0, act.type.snapshot_timeout))
                continue
            batch.append(act)
        return await self._write_batch(batch, release=False, now=now)

    async def _write_batch(self, acts: list[Activation], *, release: bool, now: float) -> int:
        """Write many activations' state in one round trip; with `release`, give up leases too."""
        if not acts:
            return 0
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        blobs = []
        for act in acts:
            act.writing = done
            blobs.append(act.blob)
        items = [
            WriteItem(a.key, b or b"", a.revision, release)
            for a, b in zip(acts, blobs, strict=True)
        ]
        sent = self.clock()
        try:
            revs = await self.writer.write_many(items)
        except StoreUnavailable:
            for act in acts:
                if not act.closed and not act.snap_due:
                    act.snap_due = True
                    self._snaps.schedule(act, now, min(1.0, act.type.snapshot_timeout))
            raise
        finally:
            for act in acts:
                act.writing = None
            done.set_result(None)
        written = 0
        for act, blob, rev in zip(acts, blobs, revs, strict=True):
            if rev is None:
                self._lost(act)
                continue
            written += 1
            act.revision, act.persisted = rev, blob
            act.valid_until = sent + self.lease_valid
            self.metrics.bump(self.metrics.snapshot_writes, (act.key.system, act.type.name))
            if act.dirty and not act.closed and not act.snap_due:  # changed while being written
                act.snap_due = True
                self._snaps.schedule(act, now, act.type.snapshot_timeout)
        return written

    # --- deactivation, handoff, shutdown -------------------------------------------------------

    async def deactivate(self, acts: Iterable[Activation], reason: str) -> int:
        """Finish current turns, flush dirty state and release the leases of `acts`, then drop
        them; queued callers route again. Returns how many were dropped.

        Each activation is handled on its own (take its turn, write or release, close, give the
        turn back) and the statestore calls are group-committed. Nothing ever holds one turn
        while waiting for another, so this cannot deadlock with other deactivations or with a
        turn that calls another actor."""
        todo = [a for a in acts if not a.closed]
        if not todo:
            return 0
        results = await asyncio.gather(
            *(self._deactivate_one(a, reason) for a in todo), return_exceptions=True
        )
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return sum(1 for r in results if r is True)

    async def _deactivate_one(self, act: Activation, reason: str) -> bool:
        await self._take_turn(act)
        try:
            while act.writing is not None and not act.closed:
                await asyncio.shield(act.writing)
            if act.closed:
                return False
            if act.dirty:
                blob = act.blob or b""
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                act.writing = done
                try:
                    rev = await self.writer.write(WriteItem(act.key, blob, act.revision, True))
                finally:
                    act.writing = None
                    done.set_result(None)
                if rev is None:
                    self._lost(act)
                    return False
                act.revision, act.persisted = rev, blob
                self.metrics.bump(self.metrics.snapshot_writes, (act.key.system, act.type.name))
            else:
                await self.releaser.submit(act.key)
            self._forget(act, reason)
            return True
        finally:
            act.end_turn()

    async def _take_turn(self, act: Activation) -> None:
        if act.busy:
            await act.wait_turn(front=True)
        else:
            act.busy = True

    async def reap_idle(self, now: float | None = None) -> int:
        """Deactivate activations idle past their `deactivate_timeout`."""
        now = self.clock() if now is None else now
        idle = []
        for act in self._idle.expired(now):
            if act.busy or act.queued or act.type.timers:
                # in use right now, or ticking (a timer keeps its actor alive): look again later
                act.last_used = now
                self._idle.track(act)
            else:
                idle.append(act)
        if not idle:
            return 0
        try:
            return await self.deactivate(idle, "idle")
        except StoreUnavailable:
            for act in idle:  # keep them (and their state) until the store is back
                if not act.closed:
                    act.last_used = now
                    self._idle.track(act)
            raise

    async def renew_leases(self) -> int:
        """Extend the leases of every activation; drop those whose lease was lost."""
        snapshot = dict(self.active)
        if not snapshot:
            return 0
        sent = self.clock()
        lost = await self.store.renew(self.node_id, list(snapshot), self.lease_s)
        for key, act in snapshot.items():
            if key in lost:
                if self.active.get(key) is act and not act.closed:
                    self._lost(act)
            else:
                act.valid_until = max(act.valid_until, sent + self.lease_valid)
        return len(lost)

    async def flush_all(self, reason: str = "shutdown") -> int:
        """Stop activating, then hand back every activation with its state written, including
        those whose activation was already under way (they finish loading, then go too)."""
        self.accepting = False
        n = 0
        while True:
            n += await self.deactivate(list(self.active.values()), reason)
            pending = list(self._activating.values())
            if not pending:
                return n
            await asyncio.wait(pending)  # each ends active (handed off next round) or failed

    async def emergency_flush(self) -> int:
        """Last resort when a drain timed out: write every dirty activation's last committed state
        without waiting for turns (a hung turn has committed nothing). Returns how many dirty
        activations could not be written."""
        acts = [a for a in self.active.values() if not a.closed and a.dirty and a.writing is None]
        try:
            written = await self._write_batch(acts, release=True, now=self.clock())
        except RoostError:
            return len(acts)
        for a in acts:
            if not a.closed and not a.dirty:
                self._forget(a, "shutdown")
        return len(acts) - written
