"""Typed references mypy --strict must accept (tests/sdk/test_typed_refs.py runs it)."""

from __future__ import annotations

import roost
from roost import Context, Value
from tests.sdk.typed_actors import Add, Counter, Order, Stock, Total, Tree, Warehouse


async def calls(system: roost.ActorSystem, ctx: Context) -> None:
    counter = system.ref(Counter)
    total: Total = await counter.add(Add(value=1))
    again: Total = await counter.add(Add(value=2), metadata={"trace": "t-1"})
    got: Total = await counter.get()
    depth: int = await counter.depth(Tree("a"))
    sid: str = await counter.add.delay(Add(value=3), ms=500)
    await counter.add.send(Add(value=4))
    await counter.get.send()
    later: str = await counter.get.delay(at_ms=1_900_000_000_000)
    stock: Stock = await system.ref(Warehouse, "w-1").put(Order(sku="a", qty=1))
    remote: Total = await roost.ref(Counter, url="http://127.0.0.1:8800").get()
    inner: Stock = await ctx.ref(Warehouse, "w-2").put(Order(sku="b", qty=2))
    direct = await Counter().add(Add(value=1), ctx)  # the method itself, for unit tests
    print(total, again, got, depth, sid, later, stock, remote, inner, direct)


def values() -> Value[Total]:
    return Value().state(None).response(Total(total=1))
