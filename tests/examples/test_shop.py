"""The typed shop example, tested the way its README section shows: `roost_system`, typed refs,
the virtual clock, stored state, recorded calls and a failing store."""

from __future__ import annotations

import pytest

from examples.shop import (
    ACTORS,
    CART_TTL_MS,
    RESTOCK_MS,
    Cart,
    CartState,
    Inventory,
    Item,
    Outbox,
    Receipt,
    Sales,
    Stock,
    Totals,
)
from roost import BadRequest
from roost.errors import StoreUnavailable
from roost.testing import TestSystem

pytestmark = pytest.mark.roost_actors(ACTORS)


async def test_checkout_reserves_mails_and_announces(roost_system: TestSystem) -> None:
    shop = roost_system
    await shop.ref(Inventory).put(Item("tea", 3))
    cart = shop.ref(Cart, "alice")
    await cart.add(Item("tea", 2))
    assert await cart.add(Item("cake")) == CartState(items={"tea": 2, "cake": 1})
    await shop.invoke("sales", "totals")  # activated, so subscribed to "orders"

    receipt = await cart.checkout()
    assert receipt == Receipt("alice-1", [Item("tea", 2)], ["cake"])
    await shop.advance()  # the effect and the broadcast run
    assert await shop.state("mailer") == Outbox(sent=["alice:alice-1"])
    assert await shop.ref(Sales).totals() == Totals(orders=1, lines=1)
    assert await shop.stored_state(Inventory) == Stock(items={"tea": 1})  # sync: written

    shop.calls.expect(caller="alice", kind="invoke", actor="inventory", action="reserve")
    mail = shop.calls.expect(caller="alice", kind="effect", actor="mailer")
    assert mail.payload == {"to": "alice", "order": "alice-1"}
    shop.calls.expect(caller="alice", kind="broadcast", actor="orders")


async def test_bad_payloads_are_refused_before_the_cart_runs(roost_system: TestSystem) -> None:
    cart = roost_system.ref(Cart, "bob")
    with pytest.raises(BadRequest, match=r"payload\.qty: expected integer, got string"):
        await roost_system.invoke("bob", "add", {"sku": "tea", "qty": "two"}, parent="cart")
    with pytest.raises(BadRequest, match="qty must be at least 1"):
        await cart.add(Item("tea", 0))
    assert await roost_system.state("bob", parent="cart") == CartState()
    assert not roost_system.calls.filter(caller="bob")  # nothing ran: no expiry scheduled


async def test_an_abandoned_cart_expires(roost_system: TestSystem) -> None:
    cart = roost_system.ref(Cart, "carol")
    await cart.add(Item("tea"))
    roost_system.calls.expect(caller="carol", kind="schedule", action="expire")
    await roost_system.advance(ms=CART_TTL_MS - 1)
    assert (await roost_system.state("carol", parent="cart")).items == {"tea": 1}
    await roost_system.advance(ms=1)
    assert await roost_system.state("carol", parent="cart") == CartState()


async def test_the_inventory_restocks_every_hour(roost_system: TestSystem) -> None:
    inventory = roost_system.ref(Inventory)
    await inventory.put(Item("tea", 1))
    await roost_system.advance(ms=RESTOCK_MS)
    assert await roost_system.stored_state(Inventory) == Stock(items={"tea": 10})


async def test_a_failed_write_loses_no_reservation(roost_system: TestSystem) -> None:
    await roost_system.ref(Inventory).put(Item("tea", 2))
    roost_system.store.fail_writes(1)
    with pytest.raises(StoreUnavailable):
        await roost_system.ref(Inventory).put(Item("tea", 5))
    assert await roost_system.stored_state(Inventory) == Stock(items={"tea": 2})
    assert await roost_system.state("inventory") == Stock(items={"tea": 2})
