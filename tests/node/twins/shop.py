"""Dataclasses named like `bank`'s pydantic models."""

from __future__ import annotations

from dataclasses import dataclass, field

from roost import Actor, Context, Value, action


@dataclass
class Detail:
    color: str


@dataclass
class Item:
    sku: str
    qty: int
    detail: Detail | None = None


@dataclass
class Cart:
    items: list[Item] = field(default_factory=list)


@dataclass
class Error:
    """Named like the document's own `Error` schema."""

    reason: str


class Shop(Actor):
    name = "twin-shop"
    state_type = Cart

    @action
    async def put(self, item: Item, ctx: Context) -> Value[Cart]:
        cart = Cart([*ctx.state.items, item])
        return Value().state(cart).response(cart)

    @action
    async def report(self, error: Error, ctx: Context) -> Value[None]:
        return Value()
