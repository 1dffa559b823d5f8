"""Pydantic models named like `shop`'s dataclasses, one of them holding a `shop.Item`."""

from __future__ import annotations

import pydantic

from roost import Actor, Context, Value, action
from tests.node.twins import shop


class Detail(pydantic.BaseModel):
    iban: str


class Item(pydantic.BaseModel):
    amount: float
    detail: Detail


class Account(pydantic.BaseModel):
    """Recursive: pydantic gathers the model itself among its definitions."""

    owner: str
    subaccounts: list[Account] = []


class Transfer(pydantic.BaseModel):
    goods: shop.Item  # the other module's Item, inside a pydantic model
    item: Item


class Bank(Actor):
    name = "twin-bank"

    @action
    async def pay(self, item: Item, ctx: Context) -> Account:
        return Account(owner=item.detail.iban)

    @action
    async def transfer(self, transfer: Transfer, ctx: Context) -> Value[shop.Item]:
        return Value().response(transfer.goods)
