"""`Runtime`: the activations of one node, and the asyncio driver around the pure bookkeeping.

It runs turns for actors this node holds, activates them on first use (taking the statestore
lease), writes their state (write-behind or synchronously), deactivates idle ones, renews leases,
and hands activations over or flushes them all when asked. It does not decide ownership: the
placement router calls it only for actors this node should run, and it reports `LeaseHeld` when
the store says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from roost.errors import (
    ActionFailed,
    ActionNotFound,
    ActorNotFound,
    BadRequest,
    HostUnavailable,
    Internal,
    LeaseHeld,
    NotOwner,
    RoostError,
    StateConflict,
    StoreUnavailable,
    SystemNotFound,
    Unavailable,
)
from roost.metrics import Metrics
from roost.runtime.activation import Activation
from roost.runtime.schedule import IdleTracker, SnapshotSchedule
from roost.runtime.types import SystemTypes
from roost.runtime.writer import ReleaseCoalescer, WriteCoalescer
from roost.sdk.actor import GET_STATE_ALIASES, ActionSpec, ActorType
from roost.sdk.context import EMPTY_METADATA, ActorId, Context, Invoker
from roost.sdk.value import UNSET, Value
from roost.statestore.base import ActorKey, StateStore, WriteItem

log = logging.getLogger("roost.runtime")


class Runtime:
    """Activations of one node. Every public coroutine is safe to call concurrently."""

    def __init__(
        self,
        *,
        node_id: str,
        store: StateStore,
        systems: Mapping[str, SystemTypes],
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        lease_s: float = 10.0,
        invoker: Invoker | None = None,
        failed_members: Callable[[], Collection[str]] = frozenset,
        owns: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.node_id = node_id
        self.store = store
        self.systems = dict(systems)
        self.metrics = metrics or Metrics(node_id, process=False)
        self.clock = clock
        self.lease_s = lease_s
        self.invoker = invoker
        self.failed_members = failed_members
        self.owns = owns  # placement's verdict; None = this node owns everything
        self.active: dict[ActorKey, Activation] = {}
        self._activating: dict[ActorKey, asyncio.Future[Activation]] = {}
        self._idle: IdleTracker[Activation] = IdleTracker(_idle_deadline)
        self._snaps: SnapshotSchedule[Activation] = SnapshotSchedule()
        self.writer = WriteCoalescer(
            store, node_id, lambda: self.lease_s, self._on_write_batch, time.perf_counter
        )
        self.releaser = ReleaseCoalescer(store, node_id)
        self.accepting = True

    # --- invocation ---------------------------------------------------------------------------

    async def invoke(
        self,
        system: str,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        shielded: bool = False,
    ) -> Any:
        """Run one turn of `actor` on this node and return the action's reply.

        Raises `NotOwner` when the activation closed while this call waited (the caller routes
        again) and `LeaseHeld` when another node holds the actor. With `shielded`, cancelling
        the caller (a client that hung up, a deadline) never interrupts a turn that has started:
        it runs to completion, so its state change and its write stay consistent.
        """
        t0 = time.perf_counter()
        type_name = actor
        try:
            act = self.active.get((system, actor))  # type: ignore[call-overload]
            if act is None:
                act = await self._activation(system, actor, action, parent)
            type_name = act.type.name
            spec = act.type.actions.get(action)
            if spec is None and action not in GET_STATE_ALIASES:
                raise ActionNotFound(f"actor type {type_name!r} has no action {action!r}")
            if act.busy:
                await act.wait_turn()
                if act.closed:  # deactivated or handed off while we waited: route again
                    act.end_turn()
                    raise NotOwner(f"{act.key} moved ({act.closed_reason})")
            else:
                act.busy = True
            if shielded:
                task = asyncio.get_running_loop().create_task(
                    self._turn(act, spec, payload, metadata, caller)
                )
                task.add_done_callback(lambda _t, a=act: a.end_turn())  # type: ignore[misc]
                reply = await asyncio.shield(task)
            else:
                try:
                    reply = await self._turn(act, spec, payload, metadata, caller)
                finally:
                    act.end_turn()
            self.metrics.invocation(system, type_name, action, "ok", time.perf_counter() - t0)
            return reply
        except RoostError as exc:
            self.metrics.invocation(system, type_name, action, exc.code, time.perf_counter() - t0)
            raise

    async def _turn(
        self,
        act: Activation,
        spec: ActionSpec | None,
        payload: Any,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        *,
        init: bool = False,
    ) -> Any:
        if spec is None:  # built-in get_state: a copy, so the caller cannot mutate live state
            act.last_used = self.clock()
            return None if act.blob is None else act.type.codec.decode(act.blob)
        before = act.blob
        ctx = Context(act.state, act.actor_id, caller, metadata or EMPTY_METADATA, self.invoker)
        try:
            if spec.takes_payload:
                result = await spec.fn(act.instance, payload, ctx)
            else:
                result = await spec.fn(act.instance, ctx)
            reply, checkpoint = self._apply(act, spec, result)
        except BaseException as exc:
            self._rollback(act, before)
            passthrough = BadRequest | ActionFailed | HostUnavailable  # 400, 500, 503 as raised
            if isinstance(exc, passthrough) or not isinstance(exc, Exception):
                raise
            raise ActionFailed(
                f"{act.type.name}.{spec.name} raised {type(exc).__name__}: {exc}"
            ) from exc
        act.last_used = self.clock()
        if act.blob is not before and act.blob != before:
            if (act.type.sync or checkpoint) and not init:
                try:
                    await self._persist(act)
                except StoreUnavailable:
                    self._rollback(act, before)
                    raise
            elif not act.snap_due:
                act.snap_due = True
                self._snaps.schedule(act, act.last_used, act.type.snapshot_timeout)
        return reply

    def _apply(self, act: Activation, spec: ActionSpec, result: Any) -> tuple[Any, bool]:
        """Take the action's result: encode the new state, keep it if it changed."""
        if result is None:
            new_state, reply, checkpoint = act.state, None, False
        elif isinstance(result, Value):
            new_state = act.state if result.new_state is UNSET else result.new_state
            reply, checkpoint = result.reply, result.wants_checkpoint
        else:
            raise ActionFailed(
                f"{act.type.name}.{spec.name} returned {type(result).__name__}; "
                "actions return a roost.Value (or None)"
            )
        if new_state is None and act.blob is None:
            return reply, checkpoint
        try:
            blob = act.type.codec.encode(new_state)
        except (TypeError, ValueError) as exc:
            raise ActionFailed(
                f"{act.type.name}.{spec.name} produced a state that cannot be encoded "
                f"as {act.type.codec.name}: {exc}"
            ) from exc
        act.state = new_state
        if blob != act.blob:
            act.blob = blob
        return reply, checkpoint

    def _rollback(self, act: Activation, before: bytes | None) -> None:
        act.blob = before
        act.state = None if before is None else act.type.codec.decode(before)

    # --- activation ---------------------------------------------------------------------------

    def resolve_static(self, system: str, actor: str, parent: str | None) -> ActorType | None:
        """The type of `actor` if known without the store (named type, or `?parent=`)."""
        types = self.systems.get(system)
        if types is None:
            raise SystemNotFound(f"system {system!r} is not hosted here")
        t = types.named.get(actor)
        if t is not None:
            return t
        if parent is not None:
            tpl = types.templates.get(parent)
            if tpl is None:
                raise ActorNotFound(f"system {system!r} has no unnamed actor template {parent!r}")
            return tpl
        return None

    async def resolve(self, system: str, actor: str, parent: str | None) -> ActorType:
        """The type of `actor`, looking up spawned instances in the store; else ActorNotFound."""
        t = self.resolve_static(system, actor, parent)
        if t is not None:
            return t
        row = await self.store.read(ActorKey(system, actor))
        if row is not None and row.parent is not None:
            tpl = self.systems[system].templates.get(row.parent)
            if tpl is not None:
                return tpl
        raise ActorNotFound(f"no actor {actor!r} in system {system!r}")

    async def _activation(
        self, system: str, actor: str, action: str, parent: str | None
    ) -> Activation:
        key = ActorKey(system, actor)
        pending = self._activating.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if not self.accepting:
            raise Unavailable("node is draining", retry_after=1.0)
        atype = await self.resolve(system, actor, parent)
        if not atype.has_action(action):
            raise ActionNotFound(f"actor type {atype.name!r} has no action {action!r}")
        pending = self._activating.get(key)  # another caller may have started during resolve
        if pending is not None:
            return await asyncio.shield(pending)
        if self.owns is not None and not self.owns(system, actor):
            raise NotOwner(f"{key} is owned by another node")
        fut: asyncio.Future[Activation] = asyncio.get_running_loop().create_future()
        self._activating[key] = fut
        try:
            act = await self._load(key, atype)
            if self.owns is not None and not self.owns(system, actor):
                # the ring moved while we loaded: give it back before anyone uses it
                await self._release_unused(act)
                raise NotOwner(f"{key} moved while activating")
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: concurrent waiters re-raise it themselves
            raise
        finally:
            del self._activating[key]
        self.active[key] = act
        fut.set_result(act)
        return act

    async def _release_unused(self, act: Activation) -> None:
        act.close("moved")
        if act.dirty:  # init changed the state: keep it
            with contextlib.suppress(RoostError):
                await self.store.write(
                    self.node_id, [WriteItem(act.key, act.blob or b"", act.revision, True)], 0.0
                )
        else:
            with contextlib.suppress(RoostError):
                await self.store.release(self.node_id, [act.key])

    async def _load(self, key: ActorKey, atype: ActorType) -> Activation:
        parent = atype.name if atype.kind == "unnamed" else None
        try:
            row = await self.store.acquire(
                key, self.node_id, self.lease_s, parent=parent, steal_from=self.failed_members()
            )
        except LeaseHeld:
            self.metrics.bump(self.metrics.lease_waits, (key.system, atype.name))
            raise
        if parent is not None and row.parent not in (None, parent):
            await self.store.release(self.node_id, [key])
            raise BadRequest(
                f"actor {key.actor!r} is an instance of {row.parent!r}, not {parent!r}"
            )
        try:
            state = None if row.data is None else atype.codec.decode(row.data)
        except ValueError as exc:
            await self.store.release(self.node_id, [key])
            raise Internal(f"stored state of {key} is not valid {atype.codec.name}: {exc}") from exc
        act = Activation(
            key,
            atype,
            ActorId(key.actor, key.system, parent),
            atype.factory(),
            state,
            row.data,
            row.revision,
            self.clock(),
        )
        if atype.init is not None:
            act.busy = True
            try:
                await self._turn(act, atype.init, None, None, None, init=True)
            except BaseException:
                with contextlib.suppress(RoostError):
                    await self.store.release(self.node_id, [key])
                raise
            finally:
                act.busy = False
        self._idle.track(act)
        self.metrics.bump(self.metrics.activations, (key.system, atype.name))
        return act

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
        try:
            rev = await self.writer.write(WriteItem(act.key, blob, act.revision))
        except StoreUnavailable:
            self.metrics.bump(self.metrics.store_errors, ("unavailable",))
            raise
        finally:
            act.writing = None
            done.set_result(None)
        if rev is None:
            self._lost(act)
            raise StateConflict(f"{act.key}: the stored revision or owner moved; stepping down")
        act.revision = rev
        act.persisted = blob
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
        try:
            revs = await self.writer.write_many(items)
        except StoreUnavailable:
            self.metrics.bump(self.metrics.store_errors, ("unavailable",))
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
        except StoreUnavailable:
            self.metrics.bump(self.metrics.store_errors, ("unavailable",))
            raise
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
            if act.busy or act.queued:
                act.last_used = now  # in use right now: look again after another timeout
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
        lost = await self.store.renew(self.node_id, list(snapshot), self.lease_s)
        for key in lost:
            act = snapshot[key]
            if self.active.get(key) is act and not act.closed:
                self._lost(act)
        return len(lost)

    async def flush_all(self, reason: str = "shutdown") -> int:
        """Stop activating, then hand back every activation with its state written."""
        self.accepting = False
        return await self.deactivate(list(self.active.values()), reason)

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

    def counts_by_type(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for act in self.active.values():
            k = (act.key.system, act.type.name)
            out[k] = out.get(k, 0) + 1
        return out

    def mailbox_depths(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for act in self.active.values():
            if act.waiters:
                k = (act.key.system, act.type.name)
                out[k] = out.get(k, 0) + len(act.waiters)
        return out

    def next_deadline(self) -> float | None:
        ds = [d for d in (self._idle.next_deadline(), self._snaps.next_deadline()) if d is not None]
        return min(ds) if ds else None


def _idle_deadline(act: Activation) -> float | None:
    return None if act.closed else act.last_used + act.type.deactivate_timeout
