"""Spans on a `Core`'s call path, put in place once when tracing is on.

Each hook replaces one bound method on one object of the node with a wrapper that starts a span
and calls the original: routing (`Router.invoke`), forwards (the router's forwarder, whatever its
transport, behind a `TracedForwarder`), turns (`Runtime.invoke`), workflow steps (`run_workflow`
for pipes and forwards, `_effect`, `broadcast`, `_deliver`) and the scheduler (`schedule`,
`_fire`). Trace context is written into a call's metadata where it leaves this node: forwards,
broadcasts, and schedules (the row keeps it until the call fires). With tracing off none of this
runs, so the untraced path is the code as written, with no extra call or branch per invocation.
A method that is missing (renamed in a refactor) fails at startup, loudly, rather than leaving a
gap in every trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind, Tracer

from roost.sdk.workflow import Pipe
from roost.tracing.propagation import extract, inject
from roost.tracing.setup import Tracing
from roost.tracing.spans import kv, link_to, remote_parent, span

if TYPE_CHECKING:
    from roost.membership.base import Member
    from roost.node.core import Core
    from roost.placement.router import Forwarder, Router
    from roost.runtime.host import Runtime
    from roost.runtime.reserved import Scheduler
    from roost.sdk.context import ActorId
    from roost.sdk.value import Value
    from roost.sdk.workflow import Broadcast, Effect

AsyncFn = Callable[..., Awaitable[Any]]


def _wrap(obj: object, name: str, make: Callable[[AsyncFn], AsyncFn]) -> None:
    inner = getattr(obj, name, None)
    if inner is None or not callable(inner):
        raise RuntimeError(f"tracing: {type(obj).__name__}.{name} is gone; update roost.tracing")
    setattr(obj, name, make(inner))


def instrument(core: Core, tracing: Tracing) -> None:
    """Put the spans in place on `core` (once, at construction; see the module doc)."""
    tracer = tracing.tracer
    assert tracer is not None
    _route(core.router, tracer, core.node_id)
    if core.router.forwarder is not None:
        core.router.forwarder = tracing.forwarder(core.router.forwarder)
    _turns(core.runtime, tracer)
    _workflows(core.runtime, tracer)
    _scheduler(core.scheduler, tracer)


def _route(router: Router, tracer: Tracer, node_id: str) -> None:
    rt = router.runtime

    def make(inner: AsyncFn) -> AsyncFn:
        async def invoke(
            actor: str, action: str, payload: Any = None, *, system: str,
            metadata: Mapping[str, str] | None = None, hops: int = 0, **kw: Any,
        ) -> Any:  # fmt: skip
            parent = remote_parent(metadata)
            ring = router.ring_for(system)
            owner = ring.owner(system, actor)
            key = (system, actor)
            if parent is None and (owner == node_id or key in rt.active or key in rt.pools):
                # served here, from this process: the turn's span says all a routing span
                # would (owner: this node, no hop), and spans are what tracing costs
                return await inner(
                    actor, action, payload, system=system, metadata=metadata, hops=hops, **kw
                )
            attrs = kv(
                roost__system=system, roost__actor=actor, roost__action=action,
                roost__hops=hops, roost__owner=owner, roost__ring__version=ring.version,
            )  # fmt: skip
            # a call arriving from elsewhere (a peer, a Spawn host, a fired schedule) is served
            kind = SpanKind.INTERNAL if parent is None else SpanKind.SERVER
            with span(tracer, f"roost.route {action}", kind, attrs, parent):
                return await inner(
                    actor, action, payload, system=system, metadata=metadata, hops=hops, **kw
                )

        return invoke

    _wrap(router, "invoke", make)


class TracedForwarder:
    """The router's forwarder with a CLIENT span per forward, and the span's trace context in
    the forwarded call's metadata (how the next node continues the trace, over any transport)."""

    def __init__(self, inner: Forwarder, tracer: Tracer) -> None:
        self.inner = inner
        self.tracer = tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # the rest of the forwarder's surface, as it is

    def retain(self, member_ids: Collection[str]) -> None:
        """Passed on (a protocol check does not see through `__getattr__` on Python 3.12+)."""
        from roost.placement.router import RetainsPeers

        if isinstance(self.inner, RetainsPeers):
            self.inner.retain(member_ids)

    async def forward(
        self, member: Member, system: str, actor: str, action: str, payload: Any, *,
        metadata: Mapping[str, str] | None, hops: int, **kw: Any,
    ) -> Any:  # fmt: skip
        host, _, port = member.http.rpartition(":")
        attrs = kv(
            roost__peer=member.id, server__address=host or member.http,
            server__port=int(port) if port.isdigit() else None, roost__hops=hops,
            roost__system=system, roost__actor=actor, roost__action=action,
        )  # fmt: skip
        with span(self.tracer, f"roost.forward {action}", SpanKind.CLIENT, attrs):
            return await self.inner.forward(
                member, system, actor, action, payload,
                metadata=inject(metadata), hops=hops, **kw,
            )  # fmt: skip


def _turns(rt: Runtime, tracer: Tracer) -> None:
    def make(inner: AsyncFn) -> AsyncFn:
        async def invoke(
            system: str, actor: str, action: str, payload: Any = None, *,
            parent: str | None = None, metadata: Mapping[str, str] | None = None, **kw: Any,
        ) -> Any:  # fmt: skip
            key = (system, actor)
            act = rt.active.get(key)  # type: ignore[call-overload]
            pool = rt.pools.get(key)  # type: ignore[call-overload]
            if act is not None:
                atype = act.type
            elif pool is not None:
                atype = pool.type
            else:
                try:
                    atype = rt.resolve_static(system, actor, parent)
                except Exception:
                    atype = None  # the runtime answers this call with the error itself
            name = atype.name if atype is not None else ""
            attrs = kv(
                roost__system=system, roost__actor=actor, roost__action=action,
                roost__actor__type=name or None, roost__pooled=pool is not None or None,
                roost__mailbox__queued=act.queued if act is not None and act.waiters else None,
                roost__durability=None if atype is None else _durability(atype.sync),
            )  # fmt: skip
            label = f"{name}.{action}" if name else action
            with span(tracer, f"roost.turn {label}", SpanKind.INTERNAL, attrs,
                      remote_parent(metadata)) as s:  # fmt: skip
                try:
                    return await inner(
                        system, actor, action, payload, parent=parent, metadata=metadata, **kw
                    )
                finally:
                    if act is None and pool is None:  # this call activated it (or tried to)
                        now = rt.active.get(key)  # type: ignore[call-overload]
                        s.set_attribute("roost.activation", now is not None)
                        if atype is None and now is not None:
                            s.set_attribute("roost.actor.type", now.type.name)
                            s.set_attribute("roost.durability", _durability(now.type.sync))

        return invoke

    _wrap(rt, "invoke", make)


def _durability(sync: bool) -> str:
    return "sync" if sync else "write-behind"


def _workflows(rt: Runtime, tracer: Tracer) -> None:
    """Pipes and forwards (around `run_workflow`: effects started there nest under them),
    effects, broadcasts, and one span per broadcast delivery."""
    _wrap(rt, "run_workflow", lambda inner: _pipe(inner, tracer))
    _wrap(rt, "_effect", lambda inner: _effect(inner, tracer))
    _wrap(rt, "broadcast", lambda inner: _broadcast(inner, tracer))
    _wrap(rt, "_deliver", lambda inner: _deliver(inner, tracer))
    _wrap(rt, "_deliver_named", lambda inner: _deliver_named(inner, tracer))


def _pipe(inner: AsyncFn, tracer: Tracer) -> AsyncFn:
    async def run_workflow(
        me: ActorId, value: Value, reply: Any, payload: Any, metadata: Any
    ) -> Any:
        routing = value.routing
        if routing is None:
            return await inner(me, value, reply, payload, metadata)
        step = "pipe" if isinstance(routing, Pipe) else "forward"
        attrs = kv(
            roost__caller=str(me), roost__workflow__step=step,
            roost__target__actor=routing.actor, roost__target__action=routing.action,
        )  # fmt: skip
        with span(tracer, f"roost.{step} {routing.action}", SpanKind.INTERNAL, attrs):
            return await inner(me, value, reply, payload, metadata)

    return run_workflow


def _effect(inner: AsyncFn, tracer: Tracer) -> AsyncFn:
    async def effect(me: ActorId, e: Effect, metadata: Any) -> None:
        attrs = kv(
            roost__caller=str(me), roost__workflow__step="effect",
            roost__target__actor=e.actor, roost__target__action=e.action,
            roost__effect__delay_ms=e.delay_ms or None,
        )  # fmt: skip
        with span(tracer, f"roost.effect {e.action}", SpanKind.INTERNAL, attrs):
            await inner(me, e, metadata)

    return effect


def _broadcast(inner: AsyncFn, tracer: Tracer) -> AsyncFn:
    async def broadcast(system: str, step: Broadcast, metadata: Any, caller: Any) -> None:
        attrs = kv(
            roost__system=step.system or system, roost__channel=step.channel,
            roost__caller=None if caller is None else str(caller),
        )  # fmt: skip
        with span(tracer, f"roost.broadcast {step.channel}", SpanKind.PRODUCER, attrs):
            await inner(system, step, inject(metadata), caller)

    return broadcast


def _deliver(inner: AsyncFn, tracer: Tracer) -> AsyncFn:
    async def deliver(
        act: Any, action: str, payload: Any, metadata: Any, caller: Any, bid: str
    ) -> None:
        attrs = kv(
            roost__system=act.key.system, roost__actor=act.key.actor, roost__action=action,
            roost__broadcast__id=bid,
        )  # fmt: skip
        # on a peer's node the context comes in the broadcast's metadata
        with span(tracer, f"roost.deliver {action}", SpanKind.CONSUMER, attrs,
                  remote_parent(metadata)):  # fmt: skip
            await inner(act, action, payload, metadata, caller, bid)

    return deliver


def _deliver_named(inner: AsyncFn, tracer: Tracer) -> AsyncFn:
    """A delivery to a named subscriber: routed to its owner, which activates it if need be."""

    async def deliver(
        system: str, actor: str, action: str, payload: Any, metadata: Any, caller: Any, bid: str
    ) -> None:
        attrs = kv(
            roost__system=system, roost__actor=actor, roost__action=action,
            roost__broadcast__id=bid,
        )  # fmt: skip
        with span(tracer, f"roost.deliver {action}", SpanKind.PRODUCER, attrs):
            await inner(system, actor, action, payload, inject(metadata), caller, bid)

    return deliver


def _scheduler(sched: Scheduler, tracer: Tracer) -> None:
    def schedules(inner: AsyncFn) -> AsyncFn:
        async def schedule(*, metadata: Mapping[str, str] | None = None, **kw: Any) -> str:
            attrs = kv(
                roost__system=kw.get("system"), roost__actor=kw.get("actor"),
                roost__action=kw.get("action"), roost__schedule__due_ms=kw.get("due_ms"),
            )  # fmt: skip
            with span(tracer, f"roost.schedule {kw.get('action')}", SpanKind.PRODUCER,
                      attrs) as s:  # fmt: skip
                sid: str = await inner(metadata=inject(metadata), **kw)
                s.set_attribute("roost.schedule.id", sid)
                return sid

        return schedule

    def fires(inner: AsyncFn) -> AsyncFn:
        async def fire(key: Any, spec: dict[str, Any]) -> None:
            # the trace goes on where the call was scheduled, and links back to that span
            scheduled = extract(spec.get("metadata"))
            attrs = kv(
                roost__system=spec.get("system"), roost__actor=spec.get("actor"),
                roost__action=spec.get("action"), roost__schedule__key=key.actor,
            )  # fmt: skip
            with span(tracer, f"roost.scheduled {spec.get('action')}", SpanKind.CONSUMER,
                      attrs, scheduled, link_to(scheduled, "scheduled_by")):  # fmt: skip
                await inner(key, spec)

        return fire

    _wrap(sched, "schedule", schedules)
    _wrap(sched, "_fire", fires)
