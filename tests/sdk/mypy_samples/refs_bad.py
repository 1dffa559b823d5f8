"""Typed references mypy --strict must refuse: each line marked `# E: <code> [<code>...]` has
errors of those codes, and no other line has any (tests/sdk/test_typed_refs.py runs it with the
roost.mypy plugin)."""

from __future__ import annotations

import roost
from roost import Context
from roost.testing import TestSystem
from tests.sdk.typed_actors import Add, Counter, Order, Total, Warehouse


async def calls(system: roost.ActorSystem, ctx: Context, kit: TestSystem) -> None:
    counter = system.ref(Counter)
    # a wrong payload, or none, or one too many
    await counter.add({"value": 1})  # E: arg-type
    await counter.add(Order(sku="a", qty=1))  # E: arg-type
    await counter.get(Add(value=1))  # E: call-arg arg-type
    await counter.add()  # E: call-arg
    await counter.add(Add(value=1), ctx)  # E: call-arg arg-type
    await counter.add.send(Order(sku="a", qty=1))  # E: arg-type
    await system.ref(Warehouse, "w-1").count(3)  # E: arg-type
    # a wrong action name, or an attribute of the class that is not an action
    await counter.subtract(Add(value=1))  # E: attr-defined
    print(counter.state_type)  # E: attr-defined
    print(counter.name)  # E: attr-defined
    counter.label()  # E: attr-defined
    await roost.ref(Counter, url="http://127.0.0.1:8800").label()  # E: attr-defined
    print(ctx.ref(Warehouse, "w-2").kind)  # E: attr-defined
    print(kit.ref(Counter).state_type)  # E: attr-defined
    # wrong reply types, options and delay/send
    wrong: str = await counter.add(Add(value=1))  # E: assignment
    await counter.add.delay(Add(value=1), ms="soon")  # E: arg-type
    await counter.add(Add(value=1), metadata={"n": 1})  # E: dict-item
    sid: int = await counter.add.delay(Add(value=1), ms=5)  # E: assignment
    await counter.add.sned(Add(value=1))  # E: attr-defined
    stock: Total = await system.ref(Warehouse, "w-1").put(Order(sku="a", qty=1))  # E: assignment
    # an actor instance is not a reference: its actions are the methods themselves
    await Counter().add.delay(Add(value=1), ms=5)  # E: attr-defined
    # a reference is a Ref, not an actor
    as_actor: Counter = system.ref(Counter)  # E: assignment
    print(wrong, sid, stock, as_actor)
