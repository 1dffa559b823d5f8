"""Typed references to actors: ``ref = system.ref(Counter, "c-1")``, then ``await ref.add(req)``.

At run time a reference is a `Ref[Counter]` (`make_ref`), whose only attributes are the actor's
actions: it turns attribute access into calls through a `RefBackend` (the in-process system, a node
over HTTP, or the calling actor's context), and any other name raises AttributeError.

Type checkers see it two ways (see `roost.sdk.actions`):

- as declared, the functions that make references (`ActorSystem.ref`, `roost.ref`, `Context.ref`)
  return the actor class itself, so mypy and pyright check the action names, payload types and
  reply types of calls through it; but not that a name is an action: Python's typing cannot map a
  class's attributes to other types, so ``ref.state_type`` or a helper method passes;
- with the mypy plugin (``plugins = ["roost.mypy"]``, see `roost.mypy`) they return `Ref[Counter]`,
  ``ref.add`` is a `RefCall` typed from the action's payload and reply, and any other name is an
  error, as it is at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from roost.sdk.actions import ActionDef
from roost.sdk.shapes import Shape

A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a reference's calls go: the actor's name, its system (None: the backend's default),
    and its template when it is an unnamed instance."""

    actor: str
    system: str | None
    parent: str | None


class RefBackend(Protocol):
    """What a reference calls through."""

    async def call(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None
    ) -> Any: ...

    async def schedule(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None,
        delay_ms: int | None, at_ms: int | None,
    ) -> str: ...  # fmt: skip

    async def send(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None
    ) -> None: ...


def target_of(actor_cls: type, name: str | None, system: str | None) -> Target:
    """The target for an actor class and instance name: a named or pooled type has one name (its
    own); an unnamed instance needs one, and gets its template from the class."""
    type_name = getattr(actor_cls, "name", "") or ""
    if not type_name:
        raise TypeError(f"{actor_cls!r} is not an actor class with a name")
    kind = getattr(actor_cls, "kind", "named")
    system = system or getattr(actor_cls, "system", None)
    if kind == "unnamed":
        if not name:
            raise TypeError(f"{type_name!r} is an unnamed template: give the instance's name")
        return Target(name, system, type_name)
    if name not in (None, type_name):
        raise TypeError(f"{type_name!r} is a {kind} actor: its only name is {type_name!r}")
    return Target(type_name, system, None)


def make_ref(actor_cls: type[A], target: Target, backend: RefBackend) -> A:
    """A `Ref` to an actor of class `actor_cls`, declared as an `actor_cls` (see the module
    docstring); the roost.mypy plugin types the public functions that return it as `Ref[A]`."""
    return cast("A", Ref(actor_cls, target, backend))


class Ref(Generic[A]):
    """A reference to an actor of class `A`: ``await ref.add(req)``, ``ref.add.delay(req, ms=5)``,
    ``ref.add.send(req)``. It has no public attribute of its own, so every name is an action's."""

    __slots__ = ("_backend", "_cls", "_target")

    def __init__(self, actor_cls: type[A], target: Target, backend: RefBackend) -> None:
        self._cls = actor_cls
        self._target = target
        self._backend = backend

    def __getattr__(self, attr: str) -> BoundRef:
        # a reference annotated Ref[A] without roost.mypy: untyped; with it, a RefCall or an error
        member = getattr(self._cls, attr, None)
        if not isinstance(member, ActionDef):
            raise AttributeError(f"actor {self._cls.__qualname__} has no action {attr!r}")
        return BoundRef(self._target, self._backend, member)

    def __repr__(self) -> str:
        t = self._target
        return f"ref({self._cls.__qualname__}, {t.actor!r}, system={t.system!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and (self._cls, self._target) == (
            other._cls,
            other._target,
        )

    def __hash__(self) -> int:
        return hash((self._cls, self._target))


ActorRef = Ref  # its first name, still public in roost.sdk


class BoundRef:
    """One action of one referenced actor: call it, `delay` it, or `send` it."""

    __slots__ = ("_backend", "_def", "_target")

    def __init__(self, target: Target, backend: RefBackend, action_def: ActionDef[Any, Any, Any]):
        self._target = target
        self._backend = backend
        self._def = action_def

    def _payload(self, args: tuple[Any, ...]) -> Any:
        d = self._def
        if len(args) != int(d.takes_payload):
            want = "one payload argument" if d.takes_payload else "no payload"
            raise TypeError(f"action {d.action_name!r} called through a reference takes {want}")
        return args[0] if args else None

    async def __call__(self, *args: Any, metadata: Mapping[str, str] | None = None) -> Any:
        reply = await self._backend.call(
            self._target, self._def.action_name, self._payload(args), metadata
        )
        shape = reply_shape(self._def)
        if shape is not None and reply is not None and not isinstance(reply, shape.cls):
            return shape.load(reply, strict=False)  # over HTTP: the reply's JSON form
        return reply

    async def delay(
        self, *args: Any, ms: int | None = None, at_ms: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:  # fmt: skip
        """Persist the call to run once, after `ms` milliseconds or at `at_ms` (unix ms);
        returns the schedule's id."""
        if (ms is None) == (at_ms is None):
            raise TypeError("give exactly one of ms= and at_ms=")
        payload = self._checked(self._payload(args))
        return await self._backend.schedule(
            self._target, self._def.action_name, payload, metadata, ms, at_ms
        )

    async def send(self, *args: Any, metadata: Mapping[str, str] | None = None) -> None:
        """Hand the call over to run in the background; its reply and errors are not seen here
        (a bad payload is still refused now)."""
        payload = self._checked(self._payload(args))
        await self._backend.send(self._target, self._def.action_name, payload, metadata)

    def _checked(self, payload: Any) -> Any:
        """A call that is not awaited cannot answer 400 later: check a typed payload now."""
        from roost.sdk.actor import spec_of

        check = spec_of(self._def).check
        return payload if check is None else check(payload)

    def __repr__(self) -> str:
        return f"<action {self._def.action_name!r} of {self._target.actor!r}>"


def reply_shape(action_def: ActionDef[Any, Any, Any]) -> Shape | None:
    from roost.sdk.actor import spec_of

    return spec_of(action_def).reply_shape
