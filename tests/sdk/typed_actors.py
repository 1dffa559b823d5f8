"""Typed actors shared by the typed-state, typed-ref and OpenAPI tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import pydantic

from roost import Actor, BadRequest, Context, Value, action


@dataclass
class Tally:
    total: int = 0
    history: list[int] = field(default_factory=list)


@dataclass
class Add:
    value: int
    note: str | None = None


@dataclass
class Tree:
    label: str
    children: list[Tree] = field(default_factory=list)


class Total(pydantic.BaseModel):
    total: int


class Order(pydantic.BaseModel):
    sku: str
    qty: int = pydantic.Field(gt=0)


class Stock(pydantic.BaseModel):
    items: dict[str, int] = {}


class Counter(Actor):
    """Dataclass state, a dataclass payload, a pydantic reply."""

    name = "typed-counter"
    state_type = Tally

    @action
    async def add(self, req: Add, ctx: Context) -> Value[Total]:
        ctx.state.total += req.value  # in place: rolled back if the action raises
        ctx.state.history.append(req.value)
        if req.note == "boom":
            raise RuntimeError("boom after mutating")
        return Value().state(ctx.state).response(Total(total=ctx.state.total))

    @action
    async def get(self, ctx: Context) -> Total:
        return Total(total=ctx.state.total)

    @action
    async def depth(self, tree: Tree, ctx: Context) -> Value[int]:
        n, node = 0, tree
        while node.children:
            n, node = n + 1, node.children[0]
        return Value().response(n)

    @action
    async def refuse(self, req: Add, ctx: Context) -> Value[None]:
        raise BadRequest("refused on purpose")

    def label(self) -> str:
        """A helper, not an action: not an attribute of a reference."""
        return f"counter {self.name}"


class Counter2(Counter):
    """The same actor, kept sync: every changed turn is written before the reply."""

    name = "typed-sync"
    durability = "sync"


class Warehouse(Actor):
    """Pydantic state and payloads."""

    name = "warehouse"
    kind = "unnamed"
    state_type = Stock

    @action
    async def put(self, order: Order, ctx: Context) -> Value[Stock]:
        stock: Stock = ctx.state
        items = {**stock.items, order.sku: stock.items.get(order.sku, 0) + order.qty}
        new = Stock(items=items)
        return Value().state(new).response(new)

    @action
    async def count(self, sku: str, ctx: Context) -> Value[int]:
        return Value().response(ctx.state.items.get(sku, 0))
