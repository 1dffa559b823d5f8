"""`Actor`, `@action`, and `ActorType`: the validated form of an actor class the runtime runs.

An actor is a plain class deriving from `Actor` with settings as class attributes and its actions
as ``async`` methods marked with ``@action``. `ActorType.from_class` checks everything once, at
registration, and says exactly what is wrong, so nothing is discovered on the first invocation.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from google.protobuf.message import Message

from roost.sdk.actions import ActionDef, action, mark_of
from roost.sdk.shapes import Shape, is_typed_class
from roost.sdk.state import StateCodec, TypedCodec, codec_for, coerce_payload, typed_check
from roost.sdk.value import Value
from roost.sdk.workflow import Channel, Timer

log = logging.getLogger("roost")

__all__ = ["ActionSpec", "Actor", "ActorDefinitionError", "ActorType", "action", "valid_name"]

Kind = Literal["named", "unnamed", "pooled"]
Durability = Literal["snapshot", "sync"]

KINDS = ("named", "unnamed", "pooled")
DURABILITIES = ("snapshot", "sync")
# Actions answered by the node when the actor does not define them (Spawn's built-ins).
GET_STATE_ALIASES = frozenset({"get_state", "getState", "GetState", "get", "Get"})
INIT_ALIASES = frozenset({"init", "Init", "setup", "Setup"})
_NAME = re.compile(r"^[^\s/\x00-\x1f\x7f][^/\x00-\x1f\x7f]{0,254}$")


class ActorDefinitionError(TypeError):
    """An actor class is not valid; raised at registration with the class and the reason."""


def valid_name(name: object) -> bool:
    """Actor, action and system names: 1-255 characters, no '/', no control characters."""
    return isinstance(name, str) and bool(_NAME.match(name)) and name == name.strip()


class Actor:
    """Base class of Python actors. Override the settings below as class attributes."""

    name: ClassVar[str] = ""
    system: ClassVar[str | None] = None  # the one system this type belongs to; None: every one
    kind: ClassVar[str] = "named"
    state_type: ClassVar[object] = "json"
    deactivate_timeout: ClassVar[int] = 30_000  # ms idle before the activation is dropped
    snapshot_timeout: ClassVar[int] = 10_000  # ms between write-behind snapshots of dirty state
    durability: ClassVar[str] = "snapshot"
    min_pool_size: ClassVar[int] = 1
    max_pool_size: ClassVar[int] = 1
    max_mailbox: ClassVar[int] = 1_000  # calls waiting for a turn; one more is refused (429)
    timers: ClassVar[tuple[Any, ...] | list[Any]] = ()
    channels: ClassVar[tuple[Any, ...] | list[Any]] = ()


ActionFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action: ``fn(instance, payload, ctx)`` if `takes_payload`, else ``fn(instance, ctx)``.

    `check` turns an incoming payload into what the action declared (a protobuf message, a
    dataclass, a pydantic model) or raises BadRequest naming the field; None: taken as is.
    `returns_reply`: the action returns its reply itself (a typed class), not a `Value`."""

    name: str
    fn: ActionFn
    takes_payload: bool
    payload_type: type[Message] | None = None  # a protobuf payload: JSON/bytes are parsed into it
    payload_shape: Shape | None = None  # a dataclass / pydantic payload
    reply_shape: Shape | None = None  # the declared reply's class, for schemas and typed refs
    returns_reply: bool = False
    check: Callable[[Any], Any] | None = None

    def schemas(self, defs: dict[str, Any]) -> dict[str, Any] | None:
        """Request and response JSON schemas when the action is typed (their classes into
        `defs`); None for an untyped action."""
        if self.payload_shape is None and self.reply_shape is None:
            return None
        return {
            "request": None if self.payload_shape is None else self.payload_shape.schema(defs),
            "response": None if self.reply_shape is None else self.reply_shape.schema(defs),
        }


@dataclass(frozen=True, slots=True)
class ActorType:
    """A registered actor type, validated. The runtime reads nothing else."""

    name: str
    kind: str
    codec: StateCodec
    deactivate_timeout: float  # seconds
    snapshot_timeout: float  # seconds
    durability: str
    actions: Mapping[str, ActionSpec]
    init: ActionSpec | None
    factory: Callable[[], Any]
    timers: tuple[Timer, ...] = ()
    channels: tuple[Channel, ...] = ()
    min_pool_size: int = 1
    max_pool_size: int = 1
    max_mailbox: int = 1_000
    source: str = ""
    system: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sync(self) -> bool:
        return self.durability == "sync"

    def has_action(self, action_name: str) -> bool:
        return action_name in self.actions or action_name in GET_STATE_ALIASES

    def describe(self, names: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The type as `/v1/systems` lists it. Its typed classes' schemas are named by `names`
        (`shape_schema.component_names` over every hosted type, as the OpenAPI document names
        them), else over this type's classes alone."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "state_type": self.codec.name,
            "durability": self.durability,
            "deactivate_timeout_ms": round(self.deactivate_timeout * 1000),
            "snapshot_timeout_ms": round(self.snapshot_timeout * 1000),
            "max_mailbox": self.max_mailbox,
            "actions": sorted(self.actions),
        }
        from roost.sdk.shape_schema import component_names, named, named_defs

        defs: dict[str, Any] = {}
        typed = {n: s for n in sorted(self.actions) if (s := self.actions[n].schemas(defs))}
        if isinstance(self.codec, TypedCodec):
            out["state_schema"] = self.codec.shape.schema(defs)
        if typed:
            out["action_schemas"] = typed
        if defs:
            names = component_names(defs) if names is None else names
            out = named(out, names)
            out["schemas"] = named_defs(defs, names)
        return out

    def schemas(self, defs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The schemas of the classes its typed actions and state are made of, by class key
        (`shape_schema.class_key`), added to `defs`."""
        defs = {} if defs is None else defs
        for n in sorted(self.actions):
            self.actions[n].schemas(defs)
        if isinstance(self.codec, TypedCodec):
            self.codec.shape.schema(defs)
        return defs

    @classmethod
    def from_class(cls, actor_cls: type) -> ActorType:
        """Validate an actor class and build its type, or raise `ActorDefinitionError`."""
        where = f"{actor_cls.__module__}.{actor_cls.__qualname__}"

        def bad(msg: str) -> ActorDefinitionError:
            return ActorDefinitionError(f"actor {where}: {msg}")

        if not isinstance(actor_cls, type) or not issubclass(actor_cls, Actor):
            raise ActorDefinitionError(f"{where} is not a subclass of roost.Actor")
        name = getattr(actor_cls, "name", "")
        if not name:
            raise bad('missing `name` (set a class attribute, e.g. name = "incrementor")')
        if not valid_name(name):
            raise bad(f"name {name!r} must be 1-255 characters without '/' or control characters")
        kind = actor_cls.kind
        if kind not in KINDS:
            raise bad(f"kind {kind!r} must be one of {', '.join(KINDS)}")
        durability = actor_cls.durability
        if durability not in DURABILITIES:
            raise bad(f"durability {durability!r} must be one of {', '.join(DURABILITIES)}")
        try:
            codec = codec_for(actor_cls.state_type)
        except TypeError as exc:
            raise bad(str(exc)) from None
        timeouts = {}
        for attr in ("deactivate_timeout", "snapshot_timeout"):
            v = getattr(actor_cls, attr)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 86_400_000:
                raise bad(f"{attr} must be a positive number of milliseconds, got {v!r}")
            timeouts[attr] = float(v) / 1000.0
        system = getattr(actor_cls, "system", None)
        if system is not None and (not valid_name(system) or system.startswith("__")):
            raise bad(f"system {system!r} is not a valid system name")
        pool = (actor_cls.min_pool_size, actor_cls.max_pool_size)
        if not all(isinstance(p, int) and p >= 0 for p in pool) or pool[1] < max(pool[0], 1):
            raise bad(f"pool sizes must satisfy 0 <= min_pool_size <= max_pool_size, got {pool}")
        max_mailbox = actor_cls.max_mailbox
        if isinstance(max_mailbox, bool) or not isinstance(max_mailbox, int) or max_mailbox < 1:
            raise bad(f"max_mailbox must be a positive integer, got {max_mailbox!r}")
        actions, init = _collect_actions(actor_cls, bad)
        timers, channels = _composition(actor_cls, actions, kind, bad)
        try:
            actor_cls()
        except TypeError as exc:
            raise bad(f"must be constructible without arguments: {exc}") from None
        return cls(
            name=name,
            kind=kind,
            codec=codec,
            deactivate_timeout=timeouts["deactivate_timeout"],
            snapshot_timeout=timeouts["snapshot_timeout"],
            durability=durability,
            actions=actions,
            init=init,
            factory=actor_cls,
            timers=timers,
            channels=channels,
            min_pool_size=pool[0],
            max_pool_size=pool[1],
            max_mailbox=max_mailbox,
            source=where,
            system=system,
        )


def _collect_actions(
    actor_cls: type, bad: Callable[[str], ActorDefinitionError]
) -> tuple[dict[str, ActionSpec], ActionSpec | None]:
    actions: dict[str, ActionSpec] = {}
    init: ActionSpec | None = None
    seen_attrs: set[str] = set()
    for klass in actor_cls.__mro__:
        for attr, member in vars(klass).items():
            found = mark_of(member)
            if found is None or attr in seen_attrs:
                continue
            fn, mark = found
            seen_attrs.add(attr)  # a subclass override hides the base's method
            name = mark.name or attr
            if not valid_name(name):
                raise bad(f"action name {name!r} is not valid")
            if not inspect.iscoroutinefunction(fn):
                raise bad(f"action {name!r} must be declared `async def`")
            params = list(inspect.signature(fn).parameters.values())[1:]
            if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY) for p in params):
                raise bad(f"action {name!r} must take (self, ctx) or (self, payload, ctx)")
            if len(params) not in (1, 2):
                raise bad(
                    f"action {name!r} takes {len(params)} arguments after self; "
                    "it must take (ctx) or (payload, ctx)"
                )
            try:
                spec = _spec(name, fn, params)
            except TypeError as exc:
                raise bad(f"action {name!r}: {exc}") from None
            if mark.init:
                if init is not None:
                    raise bad(f"two init actions: {init.name!r} and {name!r}")
                init = spec
            if name in actions:
                raise bad(f"duplicate action {name!r}")
            actions[name] = spec
    if init is None:
        init = next((actions[a] for a in sorted(INIT_ALIASES) if a in actions), None)
    return actions, init


def _composition(
    actor_cls: type, actions: Mapping[str, ActionSpec], kind: str,
    bad: Callable[[str], ActorDefinitionError],
) -> tuple[tuple[Timer, ...], tuple[Channel, ...]]:  # fmt: skip
    timers = tuple(getattr(actor_cls, "timers", ()) or ())
    channels = tuple(getattr(actor_cls, "channels", ()) or ())
    for t in timers:
        if not isinstance(t, Timer):
            raise bad(f"timers must be roost.Timer(action, every_ms=...), got {t!r}")
        if t.action not in actions:
            raise bad(f"timer action {t.action!r} is not an action of this actor")
        if isinstance(t.every_ms, bool) or not isinstance(t.every_ms, int) or t.every_ms < 10:
            raise bad(f"timer {t.action!r}: every_ms must be an integer >= 10, got {t.every_ms!r}")
    for c in channels:
        if not isinstance(c, Channel):
            raise bad(f"channels must be roost.Channel(topic, action=...), got {c!r}")
        if not valid_name(c.topic):
            raise bad(f"channel name {c.topic!r} is not valid")
        if c.action not in actions:
            raise bad(f"channel {c.topic!r}: action {c.action!r} is not an action of this actor")
    if kind == "pooled" and (timers or channels):
        raise bad("pooled actors are stateless workers: they cannot have timers or channels")
    return timers, channels


def _spec(name: str, fn: ActionFn, params: list[inspect.Parameter]) -> ActionSpec:
    """The action's spec, with its payload and reply types read from its annotations."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # taken untyped, as before typed payloads; but said, not silent
        log.warning("action %s (%s): annotations do not resolve, so its payload is not "
                    "checked: %s", name, fn.__qualname__, exc)  # fmt: skip
        hints = {}
    takes = len(params) == 2
    hint = hints.get(params[0].name) if takes else None
    inner, nullable = _unwrap_optional(hint)
    proto = inner if isinstance(inner, type) and issubclass(inner, Message) else None
    shape = Shape(inner) if is_typed_class(inner) else None
    check: Callable[[Any], Any] | None = None
    if shape is not None:
        check = typed_check(shape, nullable)
    elif proto is not None:
        check = functools.partial(_check_proto, message_type=proto)
    ret = hints.get("return")
    returns_reply = is_typed_class(_unwrap_optional(ret)[0])
    if typing.get_origin(ret) is Value and typing.get_args(ret):
        ret = typing.get_args(ret)[0]
    reply = _unwrap_optional(ret)[0]
    return ActionSpec(
        name, fn, takes, proto, shape, Shape(reply) if is_typed_class(reply) else None,
        returns_reply, check,
    )  # fmt: skip


def spec_of(action_def: ActionDef[Any, Any, Any]) -> ActionSpec:
    """The spec of an action read from its descriptor (for typed references), made once."""
    spec = action_def.__dict__.get("_roost_spec")
    if not isinstance(spec, ActionSpec):
        params = list(inspect.signature(action_def.fn).parameters.values())[1:]
        spec = _spec(action_def.action_name, action_def.fn, params)
        action_def.__dict__["_roost_spec"] = spec
    return spec


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """(T, True) for ``T | None``, else (hint, False)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _check_proto(payload: Any, message_type: type[Message]) -> Any:
    return payload if payload is None else coerce_payload(payload, message_type)
