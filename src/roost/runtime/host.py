"""`Runtime`: the activations of one node, and the asyncio driver around the pure bookkeeping.

It runs turns for actors this node holds, activates them on first use (taking the statestore
lease), writes their state (write-behind or synchronously), deactivates idle ones, renews leases,
and hands activations over or flushes them all when asked. It does not decide ownership: the
placement router calls it only for actors this node should run, and it reports `LeaseHeld` when
the store says otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from roost.errors import (
    RETRY_AFTER,
    ActionFailed,
    ActionNotFound,
    ActorNotFound,
    BadRequest,
    HostUnavailable,
    Internal,
    LeaseHeld,
    NotOwner,
    Overloaded,
    RoostError,
    StoreUnavailable,
    SystemNotFound,
    Unavailable,
)
from roost.metrics import Metrics
from roost.runtime.activation import Activation
from roost.runtime.compose import Broadcaster, Composition, DelayedEffects, Route, seen
from roost.runtime.labels import invocation_labels
from roost.runtime.lifecycle import Lifecycle
from roost.runtime.pools import Pool
from roost.runtime.schedule import IdleTracker, SnapshotSchedule
from roost.runtime.timers import TimerWheel
from roost.runtime.types import SystemTypes
from roost.runtime.writer import ReleaseCoalescer, WriteCoalescer
from roost.sdk.actor import GET_STATE_ALIASES, ActionSpec, ActorType
from roost.sdk.context import EMPTY_METADATA, ActorId, Context, Invoker
from roost.sdk.value import UNSET, Value
from roost.statestore.base import ActorKey, StateStore, WriteItem

log = logging.getLogger("roost.runtime")


class Runtime(Lifecycle, Composition):
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
        owns: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.node_id = node_id
        self.store = store
        self.systems = dict(systems)
        self.metrics = metrics or Metrics(node_id, process=False)
        self.clock = clock
        self.lease_s = lease_s
        self.invoker = invoker
        # A turn is acknowledged only while the lease is surely held: until the acquire, renew or
        # write that extended it was sent + lease - margin (clocks may drift a little).
        self.lease_valid = lease_s - max(0.2, 0.1 * lease_s)
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
        self.tasks: set[asyncio.Task[Any]] = set()
        self.broadcaster: Broadcaster | None = None  # the node's cluster fan-out
        self.route: Route | None = None  # the node's router, for named subscribers
        # the ACL check of a delivery this runtime starts itself (broadcasts); None: allow all
        self.authorize: Callable[[str, str, str, ActorId | None], None] | None = None
        self.delayed_effects: DelayedEffects | None = None  # the node's persisted scheduler
        self.on_activate: Callable[[Activation], None] | None = None  # e.g. pin timer actors
        self.subscribers: dict[tuple[str, str], dict[ActorKey, Activation]] = {}
        self.timers: TimerWheel[Activation] = TimerWheel()
        self.pools: dict[ActorKey, Pool] = {
            ActorKey(name, t.name): Pool(name, t)
            for name, types in self.systems.items()
            for t in types.named.values()
            if t.kind == "pooled"
        }

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
        dedupe: str | None = None,
    ) -> Any:
        """Run one turn of `actor` on this node and return the action's reply.

        Raises `NotOwner` when the activation closed while this call waited (the caller routes
        again) and `LeaseHeld` when another node holds the actor. Cancelling the caller (a
        client that hung up, a deadline) is safe at any point: an action interrupted mid-way is
        rolled back like one that raised, and a write that has started completes and is kept
        (see `_turn`). `dedupe` is a
        broadcast id: a subscriber that already received it does not run again.
        """
        t0 = time.perf_counter()
        type_name = ""
        try:
            act = self.active.get((system, actor))  # type: ignore[call-overload]
            if act is None:
                pool = self.pools.get((system, actor))  # type: ignore[call-overload]
                if pool is not None:
                    return await self._pooled(pool, action, payload, metadata, caller, t0)
                act = await self._activation(system, actor, action, parent, payload)
            type_name = act.type.name
            spec = act.type.actions.get(action)
            if spec is None and action not in GET_STATE_ALIASES:
                raise ActionNotFound(f"actor type {type_name!r} has no action {action!r}")
            if act.busy:
                if act.full:
                    raise self._shed(act, "mailbox")
                await act.wait_turn()
                if act.closed:  # deactivated or handed off while we waited: route again
                    act.end_turn()
                    raise NotOwner(f"{act.key} moved ({act.closed_reason})")
            else:
                act.busy = True
            if dedupe is not None and seen(act, dedupe):
                act.end_turn()
                return None
            try:
                reply, flow = await self._turn(act, spec, payload, metadata, caller)
            finally:
                if act.turn_deferred:
                    act.turn_deferred = False  # a write still in flight owns the turn
                else:
                    act.end_turn()
            if flow is not None:
                reply = await self.run_workflow(act.actor_id, flow, reply, payload, metadata)
            self.metrics.invocation(system, type_name, action, "ok", time.perf_counter() - t0)
            return reply
        except RoostError as exc:
            if not isinstance(exc, NotOwner | LeaseHeld):  # routing signals: the router retries
                labels = invocation_labels(self.systems, system, actor, action, parent, type_name)
                self.metrics.invocation(*labels, exc.code, time.perf_counter() - t0)
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
    ) -> tuple[Any, Value | None]:
        """One turn: the reply, and the Value when it carries workflow steps (else None)."""
        if not init and self.clock() >= act.valid_until:
            await self._revalidate(act)
        if spec is None:  # built-in get_state: a copy, so the caller cannot mutate live state
            act.last_used = self.clock()
            if act.last_used >= act.valid_until:
                raise Unavailable(f"{act.key}: the lease lapsed during the read; try again")
            codec = act.type.codec
            return (codec.initial() if act.blob is None else codec.decode(act.blob)), None
        before = act.blob
        if spec.check is not None:  # a typed payload: checked before anything runs (400 if not)
            payload = spec.check(payload)
        ctx = Context(act.state, act.actor_id, caller, metadata or EMPTY_METADATA, self.invoker)
        try:
            if spec.takes_payload:
                result = await spec.fn(act.instance, payload, ctx)
            else:
                result = await spec.fn(act.instance, ctx)
            reply, checkpoint = self._apply(act, spec, result)
            flow = result if isinstance(result, Value) and result.has_workflow else None
        except BaseException as exc:
            self._rollback(act, before)
            # 400, 500, 503 as raised. A nested call refused with 403 or 429 is this action's
            # failure (500), never the caller's 403 or 429: the turn may have made other calls
            # that ran, and a 429 tells clients that nothing ran and the call may be sent again
            passthrough = BadRequest | ActionFailed | HostUnavailable
            if isinstance(exc, passthrough) or not isinstance(exc, Exception):
                raise
            raise ActionFailed(
                f"{act.type.name}.{spec.name} raised {type(exc).__name__}: {exc}"
            ) from exc
        act.last_used = self.clock()
        if act.blob is not before and act.blob != before:
            if (act.type.sync or checkpoint) and not init:
                await self._persist_turn(act, before)
            elif not act.snap_due:
                act.snap_due = True
                self._snaps.schedule(act, act.last_used, act.type.snapshot_timeout)
        if not init and act.last_used >= act.valid_until:
            # the lease may have lapsed while the turn ran (a paused process, a cut-off node):
            # nothing this turn did is acknowledged, and nothing it did in memory stays (a turn
            # whose fenced write landed has a fresh lease, so it never gets here)
            self._rollback(act, before)
            raise Unavailable(f"{act.key}: the lease lapsed during the turn; try again")
        return reply, flow

    def full_mailbox(self, system: str, actor: str) -> Overloaded | None:
        """The refusal a call to `actor` would get now for its full mailbox (counted), else
        None: lets the node refuse from a request's head, before reading its body."""
        act = self.active.get((system, actor))  # type: ignore[call-overload]
        return None if act is None or not act.full else self._shed(act, "mailbox")

    def _shed(self, act: Activation, reason: str) -> Overloaded:
        """Refuse a call at once instead of queueing it past the actor's bound, and count it."""
        self.metrics.bump(self.metrics.shed, (act.key.system, act.type.name, reason))
        return Overloaded(
            f"{act.key.system}/{act.key.actor} has {act.queued} calls waiting "
            f"(max_mailbox {act.type.max_mailbox}); retry later",
            retry_after=RETRY_AFTER,
        )

    async def _persist_turn(self, act: Activation, before: bytes | None) -> None:
        """Write a sync (or checkpointed) turn's state before the reply. The write runs in a task
        of its own, so a caller cancelled meanwhile cannot cut it in half: it completes, keeps
        the turn until it has, and its outcome stands (kept if it landed, rolled back if not)."""
        write = asyncio.get_running_loop().create_task(self._persist(act))
        try:
            await asyncio.shield(write)
        except StoreUnavailable:
            self._rollback(act, before)
            raise
        except asyncio.CancelledError:
            if write.done():
                raise
            act.turn_deferred = True  # the write's callback ends the turn, not our caller

            def finish(
                t: asyncio.Task[None], a: Activation = act, b: bytes | None = before
            ) -> None:
                if not t.cancelled() and isinstance(t.exception(), StoreUnavailable):
                    self._rollback(a, b)
                a.end_turn()

            write.add_done_callback(finish)
            raise

    async def _revalidate(self, act: Activation) -> None:
        """The lease is not surely ours any more (no renew got through lately): take it again
        before serving. Lost to another node, or written by one meanwhile: step down."""
        sent = self.clock()
        try:
            row = await self.store.acquire(act.key, self.node_id, self.lease_s)
        except LeaseHeld:
            self._lost(act)
            raise NotOwner(f"{act.key} is owned by another node now") from None
        except StoreUnavailable as exc:
            raise Unavailable(f"{act.key}: cannot confirm ownership: {exc}") from exc
        if row.revision != act.revision:  # someone else held and wrote it: our copy is stale
            self._lost(act)
            raise NotOwner(f"{act.key} was written by another node")
        act.valid_until = sent + self.lease_valid

    async def _pooled(
        self,
        pool: Pool,
        action: str,
        payload: Any,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        t0: float,
    ) -> Any:
        reply, flow = await pool.invoke(action, payload, metadata, caller, self.invoker)
        if flow is not None and flow.has_workflow:
            reply = await self.run_workflow(pool.actor_id, flow, reply, payload, metadata)
        self.metrics.invocation(pool.system, pool.type.name, action, "ok", time.perf_counter() - t0)
        return reply

    def _apply(self, act: Activation, spec: ActionSpec, result: Any) -> tuple[Any, bool]:
        """Take the action's result: encode the new state, keep it if it changed."""
        if result is None:
            new_state, reply, checkpoint = act.state, None, False
        elif isinstance(result, Value):
            new_state = act.state if result.new_state is UNSET else result.new_state
            reply, checkpoint = result.reply, result.wants_checkpoint
        elif spec.returns_reply:  # a typed action returning its reply: the state stays as is
            new_state, reply, checkpoint = act.state, result, False
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
        if blob != act.blob and (act.blob is not None or blob != act.type.codec.empty):
            act.blob = blob  # (a typed state still equal to its default is not written)
        return reply, checkpoint

    def _rollback(self, act: Activation, before: bytes | None) -> None:
        act.blob = before
        codec = act.type.codec
        act.state = codec.initial() if before is None else codec.decode(before)

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

    async def activate(self, system: str, actor: str) -> bool:
        """Make a named actor active here without running an action (warm-up): its init runs,
        its timers and subscriptions start. False when it was active already."""
        if (system, actor) in self.active:
            return False
        await self._activation(system, actor, "get_state", None)
        return True

    async def _activation(
        self, system: str, actor: str, action: str, parent: str | None, payload: Any = None
    ) -> Activation:
        key = ActorKey(system, actor)
        pending = self._activating.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if not self.accepting:
            raise Unavailable("node is draining", retry_after=RETRY_AFTER)
        atype = await self.resolve(system, actor, parent)
        if not atype.has_action(action):
            raise ActionNotFound(f"actor type {atype.name!r} has no action {action!r}")
        spec = atype.actions.get(action)
        if spec is not None and spec.check is not None:
            spec.check(payload)  # a bad payload is refused before the actor is even activated
        pending = self._activating.get(key)  # another caller may have started during resolve
        if pending is not None:
            return await asyncio.shield(pending)
        if self.owns is not None and not self.owns(system, actor):
            raise NotOwner(f"{key} is owned by another node")
        if not self.accepting:  # the drain began while we resolved the type
            raise Unavailable("node is draining", retry_after=1.0)
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
            item = WriteItem(act.key, act.blob or b"", act.revision, True)
            await self._release_logged(act.key, self.store.write(self.node_id, [item], 0.0))
        else:
            await self._release_logged(act.key, self.store.release(self.node_id, [act.key]))

    async def _release_logged(self, key: ActorKey, release: Awaitable[object]) -> None:
        """A lease release nobody waits on: a failure is logged, never raised (the lease then
        runs out by itself within `lease_s`, and only then may another node take the actor)."""
        try:
            await release
        except RoostError as exc:
            log.warning(
                "could not release the lease on %s (it expires in %.0fs): %s",
                key, self.lease_s, exc.message,
            )  # fmt: skip

    async def _load(self, key: ActorKey, atype: ActorType) -> Activation:
        parent = atype.name if atype.kind == "unnamed" else None
        sent = self.clock()
        try:
            # Never taken from a holder before its lease expires (by the database's clock), even
            # one gossip calls failed: a cut-off node still answers from memory until its own
            # lease runs out, so taking it early would give two nodes the same actor.
            row = await self.store.acquire(key, self.node_id, self.lease_s, parent=parent)
        except LeaseHeld:
            self.metrics.bump(self.metrics.lease_waits, (key.system, atype.name))
            raise
        if parent is not None and row.parent not in (None, parent):
            await self.store.release(self.node_id, [key])
            raise BadRequest(
                f"actor {key.actor!r} is an instance of {row.parent!r}, not {parent!r}"
            )
        try:
            state = atype.codec.initial() if row.data is None else atype.codec.decode(row.data)
        except ValueError as exc:  # never a silent reset: the actor stays unavailable, named
            await self.store.release(self.node_id, [key])
            raise Internal(
                f"stored state of actor {key} does not load as {atype.codec.name}: {exc}"
            ) from exc
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
        act.valid_until = sent + self.lease_valid
        if atype.init is not None:
            act.busy = True
            try:
                await self._turn(act, atype.init, None, None, None, init=True)
            except BaseException:
                await self._release_logged(key, self.store.release(self.node_id, [key]))
                raise
            finally:
                act.busy = False
        self._idle.track(act)
        if atype.timers:
            self.timers.arm(act, atype.timers, act.last_used)
        if atype.channels:
            self.subscribe(act)
        if self.on_activate is not None:
            self.on_activate(act)
        self.metrics.bump(self.metrics.activations, (key.system, atype.name))
        return act

    def counts_by_type(self) -> dict[tuple[str, str], int]:
        """Active actors per (system, type)."""
        return self._per_type(lambda act: 1)

    def mailbox_depths(self) -> dict[tuple[str, str], int]:
        """Calls waiting in mailboxes per (system, type); types with none are left out."""
        return self._per_type(lambda act: len(act.waiters) if act.waiters else 0)

    def _per_type(self, weight: Callable[[Activation], int]) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for act in self.active.values():
            n = weight(act)
            if n:
                k = (act.key.system, act.type.name)
                out[k] = out.get(k, 0) + n
        return out

    def next_deadline(self) -> float | None:
        ds = [
            d
            for d in (
                self._idle.next_deadline(),
                self._snaps.next_deadline(),
                self.timers.next_deadline(),
            )
            if d is not None
        ]
        return min(ds) if ds else None

    async def stop_background(self) -> None:
        """Cancel effects, deliveries and ticks still running (at shutdown)."""
        for t in list(self.tasks):
            t.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


def _idle_deadline(act: Activation) -> float | None:
    return None if act.closed else act.last_used + act.type.deactivate_timeout
