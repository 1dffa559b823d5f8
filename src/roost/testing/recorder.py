"""What actors asked of other actors during a test: every `ctx.invoke` (and `ctx.ref` call),
scheduled call, effect, pipe, forward and broadcast, with the actor that made it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from roost.sdk.context import ActorId, ScheduledInvoker
from roost.sdk.value import Value
from roost.sdk.workflow import Forward, Pipe

Kind = Literal["invoke", "schedule", "effect", "pipe", "forward", "broadcast"]
StepKey = tuple[str, str, str, str]  # (caller system, caller name, target actor, action)


@dataclass(frozen=True, slots=True)
class Call:
    """One call an actor made. `actor` is the target (the channel for a broadcast)."""

    kind: Kind
    caller: ActorId | None
    actor: str
    action: str | None
    payload: Any = None
    system: str | None = None
    parent: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    delay_ms: int | None = None


class Calls:
    """The calls recorded so far, oldest first; iterate, `filter`, `expect`, or `clear`."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        # workflow steps recorded but not yet sent: the invoker sees them once more, as calls
        self.pending: Counter[StepKey] = Counter()

    def add(self, call: Call) -> None:
        self._calls.append(call)

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self._calls))

    def __len__(self) -> int:
        return len(self._calls)

    def clear(self) -> None:
        self._calls.clear()

    def filter(
        self, *, caller: str | None = None, actor: str | None = None,
        action: str | None = None, kind: Kind | None = None,
    ) -> list[Call]:  # fmt: skip
        """Calls matching every criterion given (`caller` is the calling actor's name)."""
        return [
            c
            for c in self._calls
            if (caller is None or (c.caller is not None and c.caller.name == caller))
            and (actor is None or c.actor == actor)
            and (action is None or c.action == action)
            and (kind is None or c.kind == kind)
        ]

    def expect(
        self, *, caller: str | None = None, actor: str | None = None,
        action: str | None = None, kind: Kind | None = None, payload: Any = ...,
    ) -> Call:  # fmt: skip
        """The one call matching (and, if given, with this `payload`); AssertionError listing
        what was recorded otherwise."""
        found = self.filter(caller=caller, actor=actor, action=action, kind=kind)
        if payload is not ...:
            found = [c for c in found if c.payload == payload]
        if len(found) != 1:
            want = {"caller": caller, "actor": actor, "action": action, "kind": kind}
            if payload is not ...:
                want["payload"] = payload
            made = "\n  ".join(map(repr, self._calls)) or "(none)"
            raise AssertionError(f"expected one call {want}, found {len(found)}; calls:\n  {made}")
        return found[0]


class RecordingInvoker:
    """Stands between the runtime and the node's invoker: records, then passes each call on."""

    def __init__(self, inner: ScheduledInvoker, calls: Calls) -> None:
        self.inner = inner
        self.calls = calls

    async def invoke(
        self, actor: str, action: str, payload: Any = None, *, system: str,
        parent: str | None = None, metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
    ) -> Any:  # fmt: skip
        step = (caller.system, caller.name, actor, action) if caller is not None else None
        if step is not None and self.calls.pending[step] > 0:
            self.calls.pending[step] -= 1  # an effect, pipe or forward recorded as such
        elif caller is not None:
            self.calls.add(Call("invoke", caller, actor, action, payload, system, parent,
                                dict(metadata or {})))  # fmt: skip
        return await self.inner.invoke(
            actor, action, payload, system=system, parent=parent, metadata=metadata, caller=caller
        )

    async def schedule(
        self, actor: str, action: str, payload: Any = None, *, system: str,
        parent: str | None = None, metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None, delay_ms: int | None = None, at_ms: int | None = None,
    ) -> str:  # fmt: skip
        if caller is not None:
            self.calls.add(Call("schedule", caller, actor, action, payload, system, parent,
                                dict(metadata or {}), delay_ms))  # fmt: skip
        return await self.inner.schedule(
            actor, action, payload, system=system, parent=parent, metadata=metadata,
            caller=caller, delay_ms=delay_ms, at_ms=at_ms,
        )  # fmt: skip


def record_workflow(calls: Calls, me: ActorId, value: Value[Any], reply: Any, payload: Any,
                    metadata: Mapping[str, str] | None) -> None:  # fmt: skip
    """Record the steps of a turn's result; those the invoker will see next are marked pending
    so that they are not recorded twice (a delayed effect and a broadcast never pass it)."""
    meta = dict(metadata or {})
    for e in value.effects:
        calls.add(Call("effect", me, e.actor, e.action, e.payload, e.system, e.parent,
                       {**meta, **e.metadata}, e.delay_ms))  # fmt: skip
        if not e.delay_ms:
            calls.pending[(me.system, me.name, e.actor, e.action)] += 1
    r = value.routing
    if isinstance(r, Pipe):
        calls.add(Call("pipe", me, r.actor, r.action, reply, r.system, r.parent, meta))
    elif isinstance(r, Forward):
        calls.add(Call("forward", me, r.actor, r.action, payload, r.system, r.parent, meta))
    if r is not None:
        calls.pending[(me.system, me.name, r.actor, r.action)] += 1
    b = value.broadcast_step
    if b is not None:
        calls.add(Call("broadcast", me, b.channel, b.action, b.payload, b.system, None, meta))
