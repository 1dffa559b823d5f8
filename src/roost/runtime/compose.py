"""Composition: what happens after a turn (workflows), channels, and timer ticks.

A mixin of `Runtime`. Workflow steps run after the turn has ended (the actor is free again):
- effects are started in the background; a failure is logged and counted, never returned;
- a pipe sends the reply, a forward the original input, to another actor, and the caller gets
  that actor's reply;
- a broadcast reaches every *named* subscriber of the channel exactly once, active or not: the
  subscribing named types are known from the registered types, so the sending node invokes each
  one through the router (its owner activates it if needed, and drops a second delivery of the
  same broadcast id); and every *unnamed* instance subscribed and active when it is sent, at most
  once, through the node's broadcaster (each member delivers to its own active instances).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from roost.errors import NotOwner, RoostError
from roost.runtime.activation import Activation
from roost.runtime.timers import Tick, TimerWheel
from roost.sdk.context import ActorId, Invoker
from roost.sdk.value import Value
from roost.sdk.workflow import Broadcast, Effect, Pipe

if TYPE_CHECKING:
    from roost.metrics import Metrics
    from roost.runtime.types import SystemTypes
    from roost.sdk.actor import ActorType
    from roost.statestore.base import ActorKey

log = logging.getLogger("roost.runtime")

SEEN_BROADCASTS = 64  # per subscriber activation: enough to cover any handoff race

# (system, broadcast, metadata, caller, broadcast id) -> delivered everywhere
Broadcaster = Callable[
    [str, Broadcast, Mapping[str, str] | None, ActorId | None, str], Awaitable[None]
]
# (system, actor, action, payload, metadata, caller, broadcast id) -> the actor's reply, wherever
# it lives (the node's router, which carries the id to the owner)
Route = Callable[
    [str, str, str, Any, Mapping[str, str] | None, ActorId | None, str], Awaitable[Any]
]
# (effect, caller system, metadata, caller) -> persisted for later
DelayedEffects = Callable[[Effect, str, Mapping[str, str] | None, ActorId], Awaitable[None]]


class Composition:
    # provided by Runtime
    invoker: Invoker | None
    metrics: Metrics
    active: dict[ActorKey, Activation]
    clock: Callable[[], float]
    tasks: set[asyncio.Task[Any]]
    broadcaster: Broadcaster | None
    delayed_effects: DelayedEffects | None
    subscribers: dict[tuple[str, str], dict[ActorKey, Activation]]  # unnamed instances only
    systems: dict[str, SystemTypes]
    route: Route | None
    timers: TimerWheel[Activation]
    authorize: Callable[[str, str, str, ActorId | None], None] | None

    if TYPE_CHECKING:  # Runtime's (never a real stub: it could hide the method in the MRO)

        async def invoke(self, system: str, actor: str, action: str, payload: Any = None, *,
                         parent: str | None = None, metadata: Mapping[str, str] | None = None,
                         caller: ActorId | None = None,
                         dedupe: str | None = None) -> Any: ...  # fmt: skip

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """A background task owned by the runtime (kept referenced, cancelled by `stop`)."""
        task = asyncio.get_running_loop().create_task(coro, name=what)
        self.tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("%s failed: %s", what, t.exception())

        task.add_done_callback(done)
        return task

    async def run_workflow(
        self,
        me: ActorId,
        value: Value,
        reply: Any,
        payload: Any,
        metadata: Mapping[str, str] | None,
    ) -> Any:
        for effect in value.effects:
            self.spawn(self._effect(me, effect, metadata), f"effect {me}->{effect.actor}")
        step = value.broadcast_step
        if step is not None:
            self.spawn(self.broadcast(me.system, step, metadata, me), f"broadcast {step.channel}")
        routing = value.routing
        if routing is None:
            return reply
        if self.invoker is None:
            raise RoostError("this runtime has no invoker for pipe/forward")
        body = reply if isinstance(routing, Pipe) else payload
        return await self.invoker.invoke(
            routing.actor,
            routing.action,
            body,
            system=routing.system or me.system,
            parent=routing.parent,
            metadata=metadata,
            caller=me,
        )

    async def _effect(self, me: ActorId, e: Effect, metadata: Mapping[str, str] | None) -> None:
        meta = {**(metadata or {}), **e.metadata}
        try:
            if e.delay_ms:
                if self.delayed_effects is not None:
                    await self.delayed_effects(e, me.system, meta, me)
                    return
                await asyncio.sleep(e.delay_ms / 1000.0)
            if self.invoker is None:
                raise RoostError("this runtime has no invoker for side effects")
            await self.invoker.invoke(
                e.actor, e.action, e.payload, system=e.system or me.system, parent=e.parent,
                metadata=meta, caller=me,
            )  # fmt: skip
        except RoostError as exc:
            self.metrics.bump(self.metrics.workflow_errors, ("effect",))
            log.warning("side effect %s -> %s.%s failed: %s", me, e.actor, e.action, exc)

    # --- channels -------------------------------------------------------------------------------

    def subscribe(self, act: Activation) -> None:
        """Unnamed instances only: named subscribers are reached by name (`broadcast`)."""
        if act.type.kind != "unnamed":
            return
        for ch in act.type.channels:
            self.subscribers.setdefault((act.key.system, ch.topic), {})[act.key] = act

    def unsubscribe(self, act: Activation) -> None:
        for ch in act.type.channels:
            subs = self.subscribers.get((act.key.system, ch.topic))
            if subs is not None and subs.get(act.key) is act:
                del subs[act.key]

    async def broadcast(
        self,
        system: str,
        step: Broadcast,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
    ) -> None:
        bid = uuid.uuid4().hex
        target = step.system or system
        for t in self.named_subscribers(target, step.channel):
            action = step.action or _channel_action(t, step.channel)
            self.spawn(
                self._deliver_named(target, t.name, action, step.payload, metadata, caller, bid),
                f"deliver {step.channel} to {target}/{t.name}",
            )
        if self.broadcaster is not None:
            await self.broadcaster(target, step, metadata, caller, bid)
        else:
            await self.deliver_local(target, step, metadata, caller, bid)

    def named_subscribers(self, system: str, channel: str) -> list[ActorType]:
        """The named actor types of `system` subscribed to `channel` (known to every node that
        hosts the system; pooled types are not subscribers)."""
        types = self.systems.get(system)
        if types is None:
            return []
        return [
            t
            for t in types.named.values()
            if t.kind == "named" and any(c.topic == channel for c in t.channels)
        ]

    async def _deliver_named(self, system: str, actor: str, action: str, payload: Any,
                             metadata: Mapping[str, str] | None, caller: ActorId | None,
                             bid: str) -> None:  # fmt: skip
        """One delivery to a named subscriber, wherever it lives: its owner runs it (activating
        it if needed) unless that activation already had this broadcast id."""
        try:
            if self.authorize is not None:  # the broadcaster chose the action: the ACLs decide
                self.authorize(system, actor, action, caller)
            if self.route is not None:
                await self.route(system, actor, action, payload, metadata, caller, bid)
            else:  # a runtime on its own: everything is local
                await self.invoke(system, actor, action, payload, metadata=metadata,
                                  caller=caller, dedupe=bid)  # fmt: skip
        except RoostError as exc:
            self.metrics.bump(self.metrics.workflow_errors, ("broadcast",))
            log.warning("broadcast delivery to %s/%s failed: %s", system, actor, exc)

    async def deliver_local(
        self,
        system: str,
        step: Broadcast,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        bid: str,
    ) -> int:
        """Deliver to this node's active unnamed subscribers; returns how many were reached."""
        subs = list(self.subscribers.get((system, step.channel), {}).values())
        for act in subs:
            action = step.action or _channel_action(act.type, step.channel)
            self.spawn(
                self._deliver(act, action, step.payload, metadata, caller, bid),
                f"deliver {step.channel} to {act.key}",
            )
        return len(subs)

    async def _deliver(self, act: Activation, action: str, payload: Any,
                       metadata: Mapping[str, str] | None, caller: ActorId | None,
                       bid: str) -> None:  # fmt: skip
        """Deliver to this one activation, or to nobody: an activation that closed before its
        turn came is no longer a subscriber here (`invoke` would activate it again), and its new
        owner, if any, got the broadcast from its own subscribers list."""
        system, actor = act.key
        try:
            if self.authorize is not None:  # the broadcaster chose the action: the ACLs decide
                self.authorize(system, actor, action, caller)
            if act.closed or self.active.get(act.key) is not act:
                return
            await self.invoke(system, actor, action, payload, metadata=metadata,
                              caller=caller, dedupe=bid)  # fmt: skip
        except NotOwner:
            pass  # closed while the delivery waited for its turn: not active any more
        except RoostError as exc:
            self.metrics.bump(self.metrics.workflow_errors, ("broadcast",))
            log.warning("broadcast delivery to %s failed: %s", act.key, exc)

    # --- timers ---------------------------------------------------------------------------------

    def fire_timers(self, now: float) -> int:
        fired = 0
        for tick in self.timers.due(now):
            act = tick.owner
            if act.closed:
                continue  # gone: its new owner arms its own timers
            self.timers.rearm(tick, now)
            if tick.running:
                continue  # the previous tick is still queued or running: skip, don't pile up
            tick.running = True
            fired += 1
            self.spawn(self._tick(tick), f"tick {act.key}.{tick.timer.action}")
        return fired

    async def _tick(self, tick: Tick[Activation]) -> None:
        system, actor = tick.owner.key
        t0 = time.perf_counter()
        try:
            await self.invoke(system, actor, tick.timer.action)
        except NotOwner:
            pass  # moved: the new owner ticks it
        except RoostError as exc:
            log.warning("timer %s.%s failed after %.3fs: %s", tick.owner.key,
                        tick.timer.action, time.perf_counter() - t0, exc)  # fmt: skip
        finally:
            tick.running = False


def _channel_action(t: ActorType, channel: str) -> str:
    return next(c.action for c in t.channels if c.topic == channel)


def seen(act: Activation, bid: str) -> bool:
    """Record a broadcast id on a subscriber activation; True when it was seen already."""
    ids = act.seen
    if ids is None:
        ids = act.seen = deque(maxlen=SEEN_BROADCASTS)
    if bid in ids:
        return True
    ids.append(bid)
    return False
