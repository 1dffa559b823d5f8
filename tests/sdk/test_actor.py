"""Actor classes are validated once, at registration, with errors that say what to fix."""

from __future__ import annotations

import pytest

from examples.counters import Counter, Incrementor, Tally
from roost import Actor, Context, Value, action
from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActorDefinitionError, ActorType


def test_seed_incrementor_registers_with_its_settings() -> None:
    t = ActorType.from_class(Incrementor)
    assert t.name == "incrementor"
    assert t.kind == "named"
    assert t.codec.name == "json"
    assert t.deactivate_timeout == 30.0
    assert t.snapshot_timeout == 10.0
    assert t.durability == "snapshot"
    assert t.init is not None and t.init.name == "init"
    assert set(t.actions) == {"init", "add"}
    assert t.actions["add"].takes_payload
    assert not t.actions["init"].takes_payload


def test_subclass_inherits_actions_and_overrides_settings() -> None:
    counter, tally = ActorType.from_class(Counter), ActorType.from_class(Tally)
    assert counter.durability == "sync" and tally.durability == "snapshot"
    assert set(tally.actions) == set(counter.actions) == {"init", "add", "get"}
    assert tally.kind == "unnamed"


def test_missing_name_is_refused() -> None:
    class Nameless(Actor):
        @action
        async def add(self, payload: object, ctx: Context) -> Value:
            return Value()

    with pytest.raises(ActorDefinitionError, match="missing `name`"):
        ActorType.from_class(Nameless)


def test_duplicate_action_is_refused() -> None:
    class Twice(Actor):
        name = "twice"

        @action
        async def add(self, payload: object, ctx: Context) -> Value:
            return Value()

        @action(name="add")
        async def plus(self, payload: object, ctx: Context) -> Value:
            return Value()

    with pytest.raises(ActorDefinitionError, match="duplicate action 'add'"):
        ActorType.from_class(Twice)


@pytest.mark.parametrize("value", [0, -5, "10s", None, True, 10**12])
def test_bad_timeouts_are_refused(value: object) -> None:
    cls = type("Bad", (Actor,), {"name": "bad", "deactivate_timeout": value})
    with pytest.raises(ActorDefinitionError, match="deactivate_timeout must be a positive"):
        ActorType.from_class(cls)


@pytest.mark.parametrize(
    ("attr", "value", "message"),
    [
        ("kind", "singleton", "kind 'singleton' must be one of"),
        ("durability", "eventually", "durability 'eventually' must be one of"),
        ("state_type", "xml", "state_type must be"),
        ("name", "a/b", "must be 1-255 characters"),
    ],
)
def test_bad_settings_are_refused(attr: str, value: object, message: str) -> None:
    cls = type("Bad", (Actor,), {"name": "bad", attr: value})
    with pytest.raises(ActorDefinitionError, match=message):
        ActorType.from_class(cls)


def test_sync_function_and_wrong_arity_are_refused() -> None:
    class NotAsync(Actor):
        name = "notasync"

        @action  # type: ignore[type-var]
        def add(self, payload: object, ctx: Context) -> Value:
            return Value()

    with pytest.raises(ActorDefinitionError, match="must be declared `async def`"):
        ActorType.from_class(NotAsync)

    class TooMany(Actor):
        name = "toomany"

        @action
        async def add(self, a: object, b: object, ctx: Context) -> Value:
            return Value()

    with pytest.raises(ActorDefinitionError, match="takes 3 arguments"):
        ActorType.from_class(TooMany)


def test_two_init_actions_are_refused() -> None:
    class TwoInits(Actor):
        name = "twoinits"

        @action(init=True)
        async def a(self, ctx: Context) -> Value:
            return Value()

        @action(init=True)
        async def b(self, ctx: Context) -> Value:
            return Value()

    with pytest.raises(ActorDefinitionError, match="two init actions"):
        ActorType.from_class(TwoInits)


def test_spawn_style_init_names_are_found_without_the_flag() -> None:
    class Setup(Actor):
        name = "setup"

        @action
        async def Setup(self, ctx: Context) -> Value:
            return Value().state({"ready": True})

    t = ActorType.from_class(Setup)
    assert t.init is not None and t.init.name == "Setup"


def test_two_types_with_one_name_in_a_system_are_refused() -> None:
    a = ActorType.from_class(Incrementor)
    with pytest.raises(ActorDefinitionError, match="two actor types named 'incrementor'"):
        SystemTypes.build("s", [a, a])


def test_system_separates_named_types_from_templates() -> None:
    types = SystemTypes.build("s", [ActorType.from_class(c) for c in (Incrementor, Counter, Tally)])
    assert set(types.named) == {"incrementor"}
    assert set(types.templates) == {"counter", "tally"}
