"""Typed references mypy --strict must refuse: each line marked `# E: <code>` is an error of
that code, and no other line is (tests/sdk/test_typed_refs.py runs it)."""

from __future__ import annotations

import roost
from tests.sdk.typed_actors import Add, Counter, Order, Total, Warehouse


async def calls(system: roost.ActorSystem) -> None:
    counter = system.ref(Counter)
    await counter.add({"value": 1})  # E: call-overload
    await counter.add(Order(sku="a", qty=1))  # E: call-overload
    await counter.subtract(Add(value=1))  # E: attr-defined
    await counter.get(Add(value=1))  # E: call-overload
    await counter.add()  # E: call-overload
    wrong: str = await counter.add(Add(value=1))  # E: assignment
    await counter.add.delay(Add(value=1), ms="soon")  # E: arg-type
    await counter.add(Add(value=1), metadata={"n": 1})  # E: dict-item
    sid: int = await counter.add.delay(Add(value=1), ms=5)  # E: assignment
    await counter.add.sned(Add(value=1))  # E: attr-defined
    stock: Total = await system.ref(Warehouse, "w-1").put(Order(sku="a", qty=1))  # E: assignment
    print(wrong, sid, stock)
