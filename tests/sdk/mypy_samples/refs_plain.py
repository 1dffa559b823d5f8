"""Typed references as mypy --strict sees them without the roost.mypy plugin (pyright sees them
alike): a reference is typed as the actor class. tests/sdk/test_typed_refs.py runs it without the
plugin: each line marked `# E: <code> [<code>...]` has errors of those codes, and no other line
has any; in particular each line marked `# passes:` has none, the documented limitation (the
plugin refuses those, see refs_bad.py)."""

from __future__ import annotations

from typing import Any, TypeVar, assert_type

import roost
from roost import Context
from roost.testing import TestSystem
from tests.sdk.typed_actors import Add, Counter, Order, Stock, Total, Tree, Warehouse

C = TypeVar("C", bound=Counter)


async def correct(system: roost.ActorSystem, ctx: Context, kit: TestSystem) -> None:
    counter = system.ref(Counter)
    assert_type(counter, Counter)
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
    assert_type(await kit.ref(Counter).get(), Total)
    assert_type(await Counter().add(Add(value=1), ctx), Any)  # the method itself: unit tests


async def through_a_type_variable(system: roost.ActorSystem, cls: type[C]) -> Total:
    return await system.ref(cls).add(Add(value=1))


async def wrong(system: roost.ActorSystem, ctx: Context) -> None:
    counter = system.ref(Counter)
    # a wrong action name
    await counter.subtract(Add(value=1))  # E: attr-defined
    await roost.ref(Counter).subtract(Add(value=1))  # E: attr-defined
    await ctx.ref(Warehouse, "w-2").take(Order(sku="a", qty=1))  # E: attr-defined
    # a wrong payload, or none, or one too many
    await counter.add({"value": 1})  # E: call-overload
    await counter.add(Order(sku="a", qty=1))  # E: call-overload
    await counter.get(Add(value=1))  # E: call-overload
    await counter.add()  # E: call-overload
    await counter.add.send(Order(sku="a", qty=1))  # E: arg-type
    await ctx.ref(Warehouse, "w-2").count(3)  # E: call-overload
    # wrong reply types, options and delay/send
    total: str = await counter.add(Add(value=1))  # E: assignment
    await counter.add.delay(Add(value=1), ms="soon")  # E: arg-type
    sid: int = await counter.add.delay(Add(value=1), ms=5)  # E: assignment
    await counter.add.sned(Add(value=1))  # E: attr-defined
    stock: Total = await system.ref(Warehouse, "w-1").put(Order(sku="a", qty=1))  # E: assignment
    print(total, sid, stock)


async def not_caught(system: roost.ActorSystem, ctx: Context) -> None:
    """What only the plugin refuses: a reference typed as the actor class has all of its
    attributes, and an action on it also takes the method's own call, as an instance's does."""
    counter = system.ref(Counter)
    print(counter.state_type)  # passes: not an action (AttributeError at run time)
    print(counter.name)  # passes: not an action
    counter.label()  # passes: a helper method, not an action
    await counter.add(Add(value=1), ctx)  # passes: the method's call (TypeError at run time)
    await Counter().add.delay(Add(value=1), ms=5)  # passes: an instance has no delay
