"""`Context` and `ActorId`: what an action is told about the turn it runs in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

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
    ) -> Any:
        """Invoke another actor from this one; the callee sees this actor as ``ctx.caller``.

        Calling this actor itself from its own turn would wait on its own mailbox: don't.
        """
        if self._invoker is None:
            raise RuntimeError("this context has no invoker (a test context?)")
        return await self._invoker.invoke(
            actor,
            action,
            payload,
            system=system or self.self.system,
            parent=parent,
            metadata=metadata,
            caller=self.self,
        )

    def __repr__(self) -> str:
        return f"Context(self={self.self}, caller={self.caller}, state={self.state!r})"
