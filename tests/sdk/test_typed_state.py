"""Typed state and payloads: dataclasses and pydantic models checked before the turn (400 naming
the field, nothing runs, nothing changes), stored as JSON, loaded back across class versions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

import roost
from roost import Actor, BadRequest, Context, Value, action
from roost.errors import ActionFailed, Internal
from roost.sdk.actor import ActorDefinitionError, ActorType
from roost.statestore.crypto import generate_key
from roost.statestore.memory import MemoryStore
from tests.sdk.typed_actors import Add, Counter, Counter2, Order, Stock, Tally, Total, Warehouse

KEY = generate_key()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
async def system(store: MemoryStore) -> AsyncIterator[roost.ActorSystem]:
    async with roost.ActorSystem(
        "s", actors=[Counter, Counter2, Warehouse], statestore=store, key=KEY
    ) as system:
        yield system


async def test_dataclass_state_and_payload_round_trip(system: roost.ActorSystem) -> None:
    assert await system.invoke("typed-counter", "add", {"value": 2}) == Total(total=2)
    assert await system.invoke("typed-counter", "add", Add(3)) == Total(total=5)
    assert await system.invoke("typed-counter", "get") == Total(total=5)
    assert await system.state("typed-counter") == Tally(total=5, history=[2, 3])


async def test_fresh_typed_state_is_the_default_instance_and_is_not_written(
    system: roost.ActorSystem, store: MemoryStore
) -> None:
    before = store.writes
    assert await system.invoke("typed-sync", "get") == Total(total=0)
    assert await system.state("typed-sync") == Tally()
    assert store.writes == before  # nothing changed: nothing written, even for a sync actor
    await system.invoke("typed-sync", "add", {"value": 1})
    assert store.writes == before + 1


BAD_PAYLOADS: list[tuple[Any, str]] = [
    ({"value": "x"}, "payload.value: expected integer, got string"),
    ({"value": True}, "payload.value: expected integer, got boolean"),
    ({}, "payload.value: field required"),
    ({"value": 1, "extra": 2}, "payload.extra: unexpected field"),
    ({"value": 1, "note": 5}, "payload.note: expected string | null, got integer"),
    (None, "payload: Add required"),
    ([1], "payload: expected object (Add), got array"),
    ("value", "payload: expected object (Add), got string"),
]


@pytest.mark.parametrize(("payload", "message"), BAD_PAYLOADS)
async def test_bad_dataclass_payload_is_400_naming_the_field_and_changes_nothing(
    system: roost.ActorSystem, store: MemoryStore, payload: Any, message: str
) -> None:
    await system.invoke("typed-sync", "add", {"value": 1})
    writes = store.writes
    with pytest.raises(BadRequest, match=re.escape(message)):
        await system.invoke("typed-sync", "add", payload)
    assert await system.state("typed-sync") == Tally(total=1, history=[1])
    assert store.writes == writes


async def test_a_bad_payload_does_not_even_activate_the_actor(system: roost.ActorSystem) -> None:
    """An unnamed instance (named ones are warmed up at start): the bad call creates nothing."""
    before = set(system.core.runtime.active)
    with pytest.raises(BadRequest, match=r"payload\.qty"):
        await system.invoke("w-1", "put", {"sku": "a", "qty": "nope"}, parent="warehouse")
    assert set(system.core.runtime.active) == before
    assert ("s", "w-1") not in {(k.system, k.actor) for k in system.core.runtime.active}


async def test_huge_nested_payload_is_400_not_a_crash(system: roost.ActorSystem) -> None:
    tree: dict[str, Any] = {"label": "leaf"}
    for i in range(5_000):
        tree = {"label": f"n{i}", "children": [tree]}
    with pytest.raises(BadRequest, match="nested too deeply"):
        await system.invoke("typed-counter", "depth", tree)
    shallow = {"label": "a", "children": [{"label": "b", "children": [{"label": "c"}]}]}
    assert await system.invoke("typed-counter", "depth", shallow) == 2
    with pytest.raises(BadRequest, match=r"payload.children\[0\].children\[0\].label: field"):
        bad = {"label": "a", "children": [{"label": "b", "children": [{}]}]}
        await system.invoke("typed-counter", "depth", bad)


async def test_a_wide_payload_is_checked_without_recursion_trouble(
    system: roost.ActorSystem,
) -> None:
    wide = {"label": "root", "children": [{"label": str(i)} for i in range(20_000)]}
    assert await system.invoke("typed-counter", "depth", wide) == 1
    wide["children"][19_999] = {"label": 7}  # type: ignore[index]
    with pytest.raises(BadRequest, match=r"children\[19999\].label: expected string"):
        await system.invoke("typed-counter", "depth", wide)


async def test_exception_rolls_back_in_place_mutation(system: roost.ActorSystem) -> None:
    await system.invoke("typed-counter", "add", {"value": 1})
    with pytest.raises(ActionFailed, match="boom"):
        await system.invoke("typed-counter", "add", {"value": 100, "note": "boom"})
    assert await system.state("typed-counter") == Tally(total=1, history=[1])
    with pytest.raises(BadRequest, match="refused on purpose"):
        await system.invoke("typed-counter", "refuse", {"value": 1})
    assert await system.invoke("typed-counter", "add", {"value": 1}) == Total(total=2)


async def test_pydantic_state_and_payload(system: roost.ActorSystem) -> None:
    await system.spawn("w-1", parent="warehouse")
    got = await system.invoke("w-1", "put", {"sku": "a", "qty": 2}, parent="warehouse")
    assert got == Stock(items={"a": 2})
    got = await system.invoke("w-1", "put", Order(sku="a", qty=3), parent="warehouse")
    assert got == Stock(items={"a": 5})
    for bad, message in [
        ({"sku": "a", "qty": 0}, "payload.qty: Input should be greater than 0"),
        ({"sku": "a", "qty": "many"}, "payload.qty: Input should be a valid integer"),
        ({"qty": 1}, "payload.sku: Field required"),
        ({"sku": "a", "qty": 1, "colour": "red"}, "payload.colour: unexpected field"),
        ([], "payload: Input should be a valid dictionary"),
    ]:
        with pytest.raises(BadRequest, match=re.escape(message)):
            await system.invoke("w-1", "put", bad, parent="warehouse")
    assert await system.state("w-1", parent="warehouse") == Stock(items={"a": 5})


async def test_sync_typed_actor_is_persisted_before_the_reply(
    system: roost.ActorSystem, store: MemoryStore
) -> None:
    writes = store.writes
    await system.invoke("typed-sync", "add", {"value": 4})
    assert store.writes == writes + 1
    await system.invoke("typed-sync", "get")  # unchanged state: no write
    assert store.writes == writes + 1


# --- stored state across versions of the class ---------------------------------------------


@dataclass
class TallyV2:
    """Tally with `history` removed and `label` added (with a default)."""

    total: int = 0
    label: str = "none"


@dataclass
class TallyBroken:
    total: list[str]  # the stored int no longer fits


def _version(state: type) -> type:
    class Versioned(Actor):
        name = "typed-counter"
        state_type = state

        @action
        async def get(self, ctx: Context) -> Value[Any]:
            return Value().response(ctx.state)

    return Versioned


async def test_state_written_by_an_older_class_loads(store: MemoryStore) -> None:
    async with roost.ActorSystem("s", actors=[Counter], statestore=store, key=KEY) as system:
        await system.invoke("typed-counter", "add", {"value": 7})
    async with roost.ActorSystem(
        "s", actors=[_version(TallyV2)], statestore=store, key=KEY
    ) as system:
        assert await system.invoke("typed-counter", "get") == TallyV2(total=7, label="none")


async def test_state_that_cannot_load_is_a_clear_error_never_a_reset(store: MemoryStore) -> None:
    async with roost.ActorSystem("s", actors=[Counter], statestore=store, key=KEY) as system:
        await system.invoke("typed-counter", "add", {"value": 7})
    async with roost.ActorSystem(
        "s", actors=[_version(TallyBroken)], statestore=store, key=KEY
    ) as system:
        with pytest.raises(Internal, match=r"s/typed-counter.*field total: expected array"):
            await system.invoke("typed-counter", "get")
    async with roost.ActorSystem("s", actors=[Counter], statestore=store, key=KEY) as system:
        assert await system.state("typed-counter") == Tally(total=7, history=[7])


# --- registration ------------------------------------------------------------------------


def test_typed_actor_describes_its_schemas() -> None:
    d = ActorType.from_class(Counter).describe()
    assert d["state_type"] == "tests.sdk.typed_actors.Tally"
    assert d["action_schemas"]["add"] == {
        "request": {"$ref": "#/components/schemas/Add"},
        "response": {"$ref": "#/components/schemas/Total"},
    }
    assert d["action_schemas"]["get"]["request"] is None
    assert d["schemas"]["Add"]["required"] == ["value"]
    assert d["schemas"]["Add"]["properties"]["note"] == {"type": "string", "nullable": True}
    assert d["schemas"]["Total"]["properties"]["total"]["type"] == "integer"
    from examples.counters import Incrementor

    assert "action_schemas" not in ActorType.from_class(Incrementor).describe()


def test_state_type_must_be_something_we_can_store() -> None:
    class Bad(Actor):
        name = "bad"
        state_type = int

    with pytest.raises(ActorDefinitionError, match="a dataclass, a pydantic model"):
        ActorType.from_class(Bad)


async def test_actions_still_run_directly_for_unit_tests() -> None:
    from roost.sdk.context import ActorId

    ctx = Context(Tally(total=1), ActorId("typed-counter", "s"))
    value = await Counter().add(Add(value=2), ctx)  # the bound method itself
    assert value.reply == Total(total=3)
    again = await Counter.add(Counter(), Add(value=1), Context(Tally(), ActorId("c", "s")))
    assert again.reply == Total(total=1)


async def test_an_optional_payload_may_be_left_out() -> None:
    async with roost.ActorSystem("s", actors=[Lister]) as system:
        assert await system.invoke("lister", "list") == "all"
        assert await system.invoke("lister", "list", {"prefix": "a"}) == "a"
        with pytest.raises(BadRequest, match=r"payload\.prefix: expected string"):
            await system.invoke("lister", "list", {"prefix": 1})


@dataclass
class Filter:
    prefix: str


class Lister(Actor):
    name = "lister"

    @action
    async def list(self, f: Filter | None, ctx: Context) -> Value[str]:
        return Value().response("all" if f is None else f.prefix)


def test_an_annotation_that_does_not_resolve_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    class Local(Actor):
        name = "local"

        @action
        async def go(self, p: Undefined, ctx: Context) -> Value[None]:  # type: ignore[name-defined]  # noqa: F821
            return Value()

    t = ActorType.from_class(Local)
    assert t.actions["go"].check is None  # taken untyped, as before
    assert "go" in caplog.text and "Undefined" in caplog.text
