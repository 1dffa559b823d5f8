"""`Context` and `ActorId`: what an action is told about the turn it runs in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from roost.sdk.refs import Target

A = TypeVar("A")

EMPTY_METADATA: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class ActorId:
    """An actor's identity: its name, its system, and for unnamed instances their template."""

    name: str
    system: str
    parent: str | None = None

    def __str__(self) -> str:
        return f"{self.system}/{self.name}"


class Invoker(Protocol):
    """What `Context.invoke` calls: the node's router (or the in-process system)."""

    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
    ) -> Any: ...


@runtime_checkable
class ScheduledInvoker(Invoker, Protocol):
    """An `Invoker` that can also persist a call to run later (the node's `Core`): what
    `Context.invoke(..., delay_ms=...)` needs."""

    async def schedule(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        delay_ms: int | None = None,
        at_ms: int | None = None,
    ) -> str: ...


class Context:
    """The turn's view: ``state`` (current state, ``None`` before the first), ``caller`` (the
    invoking actor's id on actor-to-actor calls), ``self`` (this actor's id), ``metadata``
    (string pairs from the caller)."""

    __slots__ = ("_invoker", "caller", "metadata", "self", "state")

    def __init__(
        self,
        state: Any,
        self_id: ActorId,
        caller: ActorId | None = None,
        metadata: Mapping[str, str] = EMPTY_METADATA,
        invoker: Invoker | None = None,
    ) -> None:
        self.state = state
        self.self = self_id
        self.caller = caller
        self.metadata = metadata
        self._invoker = invoker

    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str | None = None,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        delay_ms: int | None = None,
        scheduled_to: int | None = None,
    ) -> Any:
        """Invoke another actor from this one; the callee sees this actor as ``ctx.caller``.

        With `delay_ms` (or `scheduled_to`, unix ms) the call is persisted and fires once, later,
        on the target's owner; this returns the schedule's id at once. Calling this actor itself
        from its own turn would wait on its own mailbox (a scheduled call to itself is fine).
        """
        if self._invoker is None:
            raise RuntimeError("this context has no invoker (a test context?)")
        if delay_ms is not None or scheduled_to is not None:
            if not isinstance(self._invoker, ScheduledInvoker):
                raise RuntimeError("this context cannot schedule calls (no statestore behind it)")
            return await self._invoker.schedule(
                actor, action, payload, system=system or self.self.system, parent=parent,
                metadata=metadata, caller=self.self, delay_ms=delay_ms, at_ms=scheduled_to,
            )  # fmt: skip
        return await self._invoker.invoke(
            actor,
            action,
            payload,
            system=system or self.self.system,
            parent=parent,
            metadata=metadata,
            caller=self.self,
        )

    def ref(self, actor: type[A], name: str | None = None, *, system: str | None = None) -> A:
        """A typed reference to another actor, called as this actor (the callee sees it as
        ``ctx.caller``): ``await ctx.ref(Counter, "c-1").add(AddRequest(value=1))``. Its
        ``.send()`` persists the call to run at once in the background (``delay_ms=0``). Typed as
        the actor class; as `Ref[A]` with the roost.mypy plugin (see `ActorSystem.ref`)."""
        from roost.sdk.refs import make_ref, target_of

        return make_ref(actor, target_of(actor, name, system), _ContextBackend(self))

    def __repr__(self) -> str:
        return f"Context(self={self.self}, caller={self.caller}, state={self.state!r})"


class _ContextBackend:
    """References made from inside an action call through its context."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def call(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None
    ) -> Any:
        return await self.ctx.invoke(
            to.actor, action, payload, system=to.system, parent=to.parent, metadata=metadata
        )

    async def schedule(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None,
        delay_ms: int | None, at_ms: int | None,
    ) -> str:  # fmt: skip
        sid: str = await self.ctx.invoke(
            to.actor, action, payload, system=to.system, parent=to.parent, metadata=metadata,
            delay_ms=delay_ms, scheduled_to=at_ms,
        )  # fmt: skip
        return sid

    async def send(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None
    ) -> None:
        await self.schedule(to, action, payload, metadata, 0, None)
