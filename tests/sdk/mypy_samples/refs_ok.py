"""Typed references mypy --strict must accept, each use of exactly the type it should have (an
untyped, Any, reference fails `assert_type`); tests/sdk/test_typed_refs.py runs it with the
roost.mypy plugin."""

from __future__ import annotations

from typing import Any, TypeVar, assert_type

import roost
from roost import Actor, Context, Value, action
from roost.sdk import RefCall, RefCall0
from roost.testing import TestSystem
from tests.sdk.typed_actors import Add, Counter, Order, Stock, Total, Tree, Warehouse

C = TypeVar("C", bound=Counter)


async def calls(system: roost.ActorSystem, ctx: Context, kit: TestSystem) -> None:
    # every way to make a reference gives a Ref
    assert_type(system.ref(Counter), roost.Ref[Counter])
    assert_type(roost.ref(Counter, url="http://127.0.0.1:8800"), roost.Ref[Counter])
    assert_type(ctx.ref(Warehouse, "w-2"), roost.Ref[Warehouse])
    assert_type(kit.ref(Counter), roost.Ref[Counter])
    assert_type(roost.ActorSystem.ref(system, Counter), roost.Ref[Counter])
    counter: roost.Ref[Counter] = system.ref(Counter)
    assert_type(counter.add, RefCall[Add, Total])
    assert_type(counter.get, RefCall0[Total])
    assert_type(await counter.add(Add(value=1)), Total)
    assert_type(await counter.add(Add(value=2), metadata={"trace": "t-1"}), Total)
    assert_type(await counter.get(), Total)
    assert_type(await counter.depth(Tree("a")), int)
    assert_type(await counter.refuse(Add(value=1)), None)
    assert_type(await counter.add.delay(Add(value=3), ms=500), str)
    assert_type(await counter.add.send(Add(value=4)), None)
    assert_type(await counter.get.send(), None)
    assert_type(await counter.get.delay(at_ms=1_900_000_000_000), str)
    assert_type(await system.ref(Warehouse, "w-1").put(Order(sku="a", qty=1)), Stock)
    assert_type(await system.ref(Warehouse, "w-1").count("a"), int)
    assert_type(await roost.ref(Counter, url="http://127.0.0.1:8800").get(), Total)
    assert_type(await ctx.ref(Warehouse, "w-2").put(Order(sku="b", qty=2)), Stock)
    assert_type(await Counter().add(Add(value=1), ctx), Any)  # the method itself: unit tests
    assert_type(Counter().label(), str)  # an instance keeps its helpers


async def through_a_type_variable(ref: roost.Ref[C]) -> Total:
    return await ref.add(Add(value=1))


async def of_a_type_variable(system: roost.ActorSystem, cls: type[C]) -> Total:
    assert_type(system.ref(cls), roost.Ref[C])
    return await system.ref(cls).add(Add(value=1))


async def before_its_actor(system: roost.ActorSystem) -> None:
    """The actor's actions are typed after this function: mypy defers it and comes back."""
    assert_type(await system.ref(Later).ping(1), int)
    assert_type(await system.ref(Later).start(), None)


class Later(Actor):
    """Actions declared with options, called from inside an action."""

    name = "later"

    @action(init=True)
    async def start(self, ctx: Context) -> Value[None]:
        return Value()

    @action(name="Ping")
    async def ping(self, n: int, ctx: Context) -> Value[int]:
        total = await ctx.ref(Counter).add(Add(value=n))
        return Value().response(total.total)


def values() -> Value[Total]:
    return Value().state(None).response(Total(total=1))
