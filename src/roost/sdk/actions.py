"""``@action``: marks an actor method, and types it for calls through references.

``@action`` returns an `ActionDef` descriptor generic over (actor, payload, reply). On an actor
instance it gives back the plain bound method (``await Counter().add(req, ctx)`` as before). The
functions that make a reference are declared to return the actor class itself (to a type checker
``system.ref(Counter)`` is a `Counter`), so the same attribute is typed as an `ActionCall`: it
calls, delays and sends like a `RefCall`, with the action's payload and reply types, and also
takes the method's own ``(payload, ctx)``. Any type checker thus checks the action names, payload
types and reply types of ``await ref.add(AddRequest(value=1))``, though not that a name is an
action (``ref.state_type`` passes).

The roost.mypy plugin makes a reference a `Ref[Counter]` instead, whose only attributes are the
actions, each a `RefCall[P, R]` (or `RefCall0[R]`) made from the `ActionDef`'s parameters; there an
instance's action is the plain method, ``(payload, ctx)``.

The reply type is the ``R`` of an action returning ``Value[R]``, or the action's return type when
it returns the reply itself (a dataclass or pydantic model, without changing the state).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar, overload

from roost.sdk.context import Context
from roost.sdk.value import Value

A = TypeVar("A")  # the actor class
P = TypeVar("P")  # the payload type
R = TypeVar("R")  # the reply type
P_contra = TypeVar("P_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

MARK = "__roost_action__"


@dataclass(frozen=True, slots=True)
class ActionMark:
    name: str | None
    init: bool


class RefCall(Protocol[P_contra, R_co]):
    """An action seen through a reference: call it, schedule it, or send it without waiting.

    - ``await ref.add(payload)``: the reply, as the action's declared type;
    - ``await ref.add.delay(payload, ms=500)``: persisted, runs once later; the schedule's id;
    - ``await ref.add.send(payload)``: accepted and run in the background; nothing comes back.

    Each takes ``metadata={"k": "v"}``. This is what the roost.mypy plugin gives the actions of a
    `Ref`; without it, an action read off a reference is an `ActionCall`.
    """

    def __call__(
        self, payload: P_contra, /, *, metadata: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, R_co]: ...

    def delay(
        self, payload: P_contra, /, *, ms: int | None = None, at_ms: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Coroutine[Any, Any, str]: ...  # fmt: skip

    def send(
        self, payload: P_contra, /, *, metadata: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, None]: ...


class RefCall0(Protocol[R_co]):
    """A `RefCall` of an action that takes no payload: ``await ref.get()``."""

    def __call__(
        self, /, *, metadata: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, R_co]: ...

    def delay(
        self, /, *, ms: int | None = None, at_ms: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Coroutine[Any, Any, str]: ...  # fmt: skip

    def send(
        self, /, *, metadata: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, None]: ...


class ActionCall(RefCall[P_contra, R_co], Protocol[P_contra, R_co]):
    """An action read off a value typed as the actor class: a reference as type checkers see it
    without the roost.mypy plugin (a `RefCall`), or an actor instance, whose action is the method
    itself, ``await Counter().add(payload, ctx)`` (the unit test of an action)."""

    @overload
    def __call__(
        self, payload: P_contra, /, *, metadata: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, R_co]: ...
    @overload
    def __call__(self, payload: P_contra, ctx: Context, /) -> Coroutine[Any, Any, Any]: ...


class ActionCall0(RefCall0[R_co], Protocol[R_co]):
    """An `ActionCall` of an action that takes no payload: ``await ref.get()``, ``(ctx)`` on an
    instance."""

    @overload
    def __call__(
        self, /, *, metadata: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, R_co]: ...
    @overload
    def __call__(self, ctx: Context, /) -> Coroutine[Any, Any, Any]: ...


class ActionDef(Generic[A, P, R]):
    """An action taking a payload. Class access gives the descriptor (its `fn`, `mark`); access on
    a value typed as the actor (an instance, a reference without roost.mypy) an `ActionCall`; on a
    `Ref` (roost.mypy), a `RefCall[P, R]`."""

    takes_payload = True

    def __init__(self, fn: Callable[..., Awaitable[Any]], mark: ActionMark) -> None:
        self.fn = fn
        self.mark = mark
        self.attr = fn.__name__
        functools.update_wrapper(self, fn)

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: A, owner: type | None = None) -> ActionCall[P, R]: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return types.MethodType(self.fn, obj)

    @property
    def action_name(self) -> str:
        return self.mark.name or self.attr

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``Counter.add(instance, payload, ctx)``: the function itself, as before decoration."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<action {self.action_name!r} of {self.fn.__qualname__}>"


class ActionDef0(ActionDef[A, None, R]):
    """An action without a payload: an `ActionCall0[R]` on the actor, a `RefCall0[R]` on a
    `Ref`."""

    takes_payload = False

    @overload  # type: ignore[override]
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: A, owner: type | None = None) -> ActionCall0[R]: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return types.MethodType(self.fn, obj)


def make(fn: Callable[..., Awaitable[Any]], mark: ActionMark) -> ActionDef[Any, Any, Any]:
    """The descriptor for `fn`: with or without a payload, by its arity."""
    import inspect

    try:
        n = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        n = 3
    cls = ActionDef0 if n == 2 else ActionDef
    return cls(fn, mark)


class ActionDecorator(Protocol):
    """What ``@action(name=..., init=...)`` returns: `action` with the options applied."""

    @overload
    def __call__(
        self, fn: Callable[[A, P, Context], Awaitable[Value[R]]], /
    ) -> ActionDef[A, P, R]: ...
    @overload
    def __call__(self, fn: Callable[[A, Context], Awaitable[Value[R]]], /) -> ActionDef0[A, R]: ...
    @overload
    def __call__(self, fn: Callable[[A, P, Context], Awaitable[R]], /) -> ActionDef[A, P, R]: ...
    @overload
    def __call__(self, fn: Callable[[A, Context], Awaitable[R]], /) -> ActionDef0[A, R]: ...


@overload
def action(fn: Callable[[A, P, Context], Awaitable[Value[R]]], /) -> ActionDef[A, P, R]: ...
@overload
def action(fn: Callable[[A, Context], Awaitable[Value[R]]], /) -> ActionDef0[A, R]: ...
@overload
def action(fn: Callable[[A, P, Context], Awaitable[R]], /) -> ActionDef[A, P, R]: ...
@overload
def action(fn: Callable[[A, Context], Awaitable[R]], /) -> ActionDef0[A, R]: ...
@overload
def action(*, name: str | None = None, init: bool = False) -> ActionDecorator: ...
def action(
    fn: Callable[..., Awaitable[Any]] | None = None,
    /,
    *,
    name: str | None = None,
    init: bool = False,
) -> Any:
    """Mark an ``async`` method as an action: ``@action``, ``@action(init=True)``,
    ``@action(name="Add")``. Its signature is ``(self, ctx)`` or ``(self, payload, ctx)``; a
    dataclass or pydantic annotation on the payload is checked before the turn (400 otherwise)."""

    def mark(f: Callable[..., Awaitable[Any]]) -> ActionDef[Any, Any, Any]:
        return make(f, ActionMark(name, init))

    return mark(fn) if fn is not None else mark


def mark_of(obj: object) -> tuple[Callable[..., Any], ActionMark] | None:
    """(function, mark) of a class attribute that is an action, else None."""
    if isinstance(obj, ActionDef):
        return obj.fn, obj.mark
    m = getattr(obj, MARK, None)  # a function marked by hand (older code paths)
    if isinstance(m, ActionMark) and callable(obj):
        return obj, m
    return None
