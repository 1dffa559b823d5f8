"""`Value`: what an action returns — the new state, the reply, and what should happen next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, cast

from roost.sdk.workflow import Broadcast, Effect, Forward, Pipe

UNSET: Final[Any] = object()  # "no new state": distinct from a state of None

if TYPE_CHECKING:  # a bare `Value` means `Value[Any]` (PEP 696 default; runtime needs no more)
    import typing_extensions

    R_co = typing_extensions.TypeVar("R_co", covariant=True, default=Any)
else:
    R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")


class Value(Generic[R_co]):
    """Builder for an action's result: ``Value().state(s).response(r)``. ``Value[R]`` is a result
    whose reply is an ``R``: what a typed reference's call returns.

    - ``state(s)``: the actor's state after this turn (omit it to keep the current state);
    - ``response(r)``: what the caller receives (JSON-serialisable, or a protobuf message);
    - ``noreply()``: the caller receives ``null`` / ``None``;
    - ``checkpoint()``: persist this turn's state before replying, even for a ``snapshot`` actor.

    Workflow steps (``effect``, ``pipe``, ``forward``, ``broadcast``) chain other actors' actions.
    """

    __slots__ = ("_broadcast", "_checkpoint", "_effects", "_forward", "_pipe", "_reply", "_state")

    def __init__(self) -> None:
        self._state: Any = UNSET
        self._reply: Any = None
        self._checkpoint = False
        self._effects: list[Effect] | None = None
        self._pipe: Pipe | None = None
        self._forward: Forward | None = None
        self._broadcast: Broadcast | None = None

    def state(self, new_state: Any) -> Value[R_co]:
        self._state = new_state
        return self

    def response(self, reply: T) -> Value[T]:
        self._reply = reply
        return cast("Value[T]", self)

    def noreply(self) -> Value[None]:
        self._reply = None
        return cast("Value[None]", self)

    def checkpoint(self) -> Value[R_co]:
        self._checkpoint = True
        return self

    def effect(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str | None = None,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        delay_ms: int | None = None,
    ) -> Value[R_co]:
        """After the reply, invoke `actor.action` asynchronously (failures are logged, not
        returned). Several effects may be added."""
        step = Effect(actor, action, payload, system, parent, dict(metadata or {}), delay_ms)
        if self._effects is None:
            self._effects = []
        self._effects.append(step)
        return self

    def pipe(
        self, actor: str, action: str, *, system: str | None = None, parent: str | None = None
    ) -> Value[Any]:
        """Send this action's reply to `actor.action`; the caller gets that action's reply."""
        self._pipe, self._forward = Pipe(actor, action, system, parent), None
        return self

    def forward(
        self, actor: str, action: str, *, system: str | None = None, parent: str | None = None
    ) -> Value[Any]:
        """Send this action's input on to `actor.action`; the caller gets that action's reply."""
        self._forward, self._pipe = Forward(actor, action, system, parent), None
        return self

    def broadcast(
        self,
        channel: str,
        payload: Any = None,
        *,
        action: str | None = None,
        system: str | None = None,
    ) -> Value[R_co]:
        """Deliver `payload` to every actor subscribed to `channel` (after the reply)."""
        self._broadcast = Broadcast(channel, payload, action, system)
        return self

    @property
    def new_state(self) -> Any:
        """The state set by ``state()``, or `UNSET`."""
        return self._state

    @property
    def reply(self) -> R_co:
        return self._reply  # type: ignore[no-any-return]  # (a cast() call costs on this path)

    @property
    def wants_checkpoint(self) -> bool:
        return self._checkpoint

    @property
    def has_workflow(self) -> bool:
        return bool(self._effects or self._pipe or self._forward or self._broadcast)

    @property
    def effects(self) -> list[Effect]:
        return self._effects or []

    @property
    def routing(self) -> Pipe | Forward | None:
        return self._pipe or self._forward

    @property
    def broadcast_step(self) -> Broadcast | None:
        return self._broadcast

    def __repr__(self) -> str:
        state = "unset" if self._state is UNSET else repr(self._state)
        return f"Value(state={state}, response={self._reply!r})"
