"""A typed shop: dataclass state and payloads, typed references, timers, effects, a broadcast and
a scheduled call. Tested with `roost.testing` in tests/examples/test_shop.py.

- `Inventory` (named, ``durability = "sync"``): stock per SKU; `reserve` answers what it could
  reserve; a timer restocks every hour.
- `Cart` (unnamed template ``cart``): items; `checkout` reserves through a typed reference to the
  inventory, tells the `Mailer` (an effect), announces the order on the ``orders`` channel (a
  broadcast) and clears the cart. Adding to an empty cart schedules `expire` in 30 minutes.
- `Mailer` and `Sales` (named): what the effect and the broadcast reach.

Call it typed, in-process: ``await system.ref(Cart, "alice").add(Item(sku="tea", qty=2))``; a
payload of the wrong shape is a 400 naming the field, before the cart runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roost import Actor, BadRequest, Channel, Context, Timer, Value, action

RESTOCK_MS = 3_600_000
CART_TTL_MS = 1_800_000
RESTOCK_TO = 10


@dataclass
class Item:
    sku: str
    qty: int = 1


@dataclass
class Stock:
    items: dict[str, int] = field(default_factory=dict)


@dataclass
class Reserved:
    items: list[Item] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class CartState:
    items: dict[str, int] = field(default_factory=dict)
    orders: int = 0


@dataclass
class Receipt:
    order: str
    items: list[Item]
    missing: list[str]


class Inventory(Actor):
    name = "inventory"
    state_type = Stock
    durability = "sync"
    timers = (Timer("restock", every_ms=RESTOCK_MS),)

    @action
    async def put(self, item: Item, ctx: Context) -> Value[Stock]:
        stock: Stock = ctx.state
        stock.items[item.sku] = stock.items.get(item.sku, 0) + item.qty
        return Value().state(stock).response(stock)

    @action
    async def reserve(self, wanted: Reserved, ctx: Context) -> Value[Reserved]:
        stock: Stock = ctx.state
        out = Reserved()
        for item in wanted.items:
            if stock.items.get(item.sku, 0) >= item.qty:
                stock.items[item.sku] -= item.qty
                out.items.append(item)
            else:
                out.missing.append(item.sku)
        return Value().state(stock).response(out)

    @action
    async def restock(self, ctx: Context) -> Value[None]:
        stock: Stock = ctx.state
        for sku, n in stock.items.items():
            stock.items[sku] = max(n, RESTOCK_TO)
        return Value().state(stock)


class Cart(Actor):
    name = "cart"
    kind = "unnamed"
    state_type = CartState

    @action
    async def add(self, item: Item, ctx: Context) -> Value[CartState]:
        if item.qty < 1:
            raise BadRequest("qty must be at least 1")
        cart: CartState = ctx.state
        if not cart.items:  # a new cart: forget it if it is never checked out
            await ctx.ref(Cart, ctx.self.name).expire.delay(ms=CART_TTL_MS)
        cart.items[item.sku] = cart.items.get(item.sku, 0) + item.qty
        return Value().state(cart).response(cart)

    @action
    async def checkout(self, ctx: Context) -> Value[Receipt]:
        cart: CartState = ctx.state
        if not cart.items:
            raise BadRequest("the cart is empty")
        wanted = Reserved([Item(sku, qty) for sku, qty in sorted(cart.items.items())])
        got = await ctx.ref(Inventory).reserve(wanted)
        order = f"{ctx.self.name}-{cart.orders + 1}"
        receipt = Receipt(order, got.items, got.missing)
        return (
            Value()
            .state(CartState(orders=cart.orders + 1))
            .response(receipt)
            .effect("mailer", "send", {"to": ctx.self.name, "order": order})
            .broadcast("orders", {"order": order, "lines": len(got.items)})
        )

    @action
    async def expire(self, ctx: Context) -> Value[None]:
        cart: CartState = ctx.state
        return Value().state(CartState(orders=cart.orders))


@dataclass
class Mail:
    to: str
    order: str


@dataclass
class Outbox:
    sent: list[str] = field(default_factory=list)


class Mailer(Actor):
    name = "mailer"
    state_type = Outbox

    @action
    async def send(self, mail: Mail, ctx: Context) -> Value[None]:
        outbox: Outbox = ctx.state
        outbox.sent.append(f"{mail.to}:{mail.order}")
        return Value().state(outbox)


@dataclass
class Totals:
    orders: int = 0
    lines: int = 0


class Sales(Actor):
    name = "sales"
    state_type = Totals
    channels = (Channel("orders", action="record"),)

    @action
    async def record(self, event: dict[str, object], ctx: Context) -> Value[None]:
        totals: Totals = ctx.state
        lines = event.get("lines")
        totals.orders += 1
        totals.lines += lines if isinstance(lines, int) else 0
        return Value().state(totals)

    @action
    async def totals(self, ctx: Context) -> Totals:
        totals: Totals = ctx.state
        return totals


ACTORS = [Inventory, Cart, Mailer, Sales]
