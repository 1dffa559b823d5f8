"""Composing actors: timers, side effects, pipe and forward, channels, pooled workers, checkpoint.

Load them with ``--actors examples.composing:Ticker,examples.composing:Orders,...`` or use
`ACTORS` in-process. `tests/runtime/test_compose.py` and `tests/integration/test_compose.py` run
every one of them.
"""

from __future__ import annotations

from typing import Any

from roost import Actor, BadRequest, Channel, Context, Timer, Value, action


class Ticker(Actor):
    """Counts its own timer ticks. A timer keeps its actor active; after a handoff or a crash its
    new owner activates it and the ticks go on."""

    name = "ticker"
    durability = "sync"
    timers = (Timer("tick", every_ms=200),)

    @action
    async def tick(self, ctx: Context) -> Value:
        ticks = (ctx.state or {}).get("ticks", 0) + 1
        return Value().state({"ticks": ticks})

    @action
    async def get(self, ctx: Context) -> Value:
        return Value().response({"ticks": (ctx.state or {}).get("ticks", 0)})


class Orders(Actor):
    """Places orders: records them, tells `audit` as a side effect, and broadcasts on `orders`."""

    name = "orders"
    durability = "sync"

    @action
    async def place(self, payload: dict[str, Any], ctx: Context) -> Value:
        if not isinstance(payload, dict) or not isinstance(payload.get("item"), str):
            raise BadRequest('payload must be {"item": "..."}')
        orders = [*(ctx.state or {}).get("orders", []), payload["item"]]
        order_id = len(orders)
        event = {"order": order_id, "item": payload["item"], "by": ctx.metadata.get("user")}
        return (
            Value()
            .state({"orders": orders})
            .response({"order": order_id})
            .effect("audit", "record", event)
            .broadcast("orders", event)
        )

    @action
    async def remind(self, payload: dict[str, Any], ctx: Context) -> Value:
        """A side effect that runs later: persisted, so it fires even if this node dies."""
        return (
            Value()
            .response({"scheduled": True})
            .effect(
                "audit", "record", {"reminder": payload}, delay_ms=int(payload.get("in_ms", 500))
            )
        )


class Audit(Actor):
    """Receives side effects: keeps what it was told, who told it, and the caller's metadata."""

    name = "audit"
    durability = "sync"

    @action
    async def record(self, payload: Any, ctx: Context) -> Value:
        entry = {
            "event": payload,
            "caller": None if ctx.caller is None else ctx.caller.name,
            "metadata": dict(ctx.metadata),
        }
        log = [*(ctx.state or {}).get("log", []), entry]
        return Value().state({"log": log})

    @action
    async def get(self, ctx: Context) -> Value:
        return Value().response((ctx.state or {}).get("log", []))


class Shipper(Actor):
    """Subscribes to the `orders` channel: every active shipper hears every broadcast once."""

    name = "shipper"
    kind = "unnamed"
    durability = "sync"
    channels = (Channel("orders", action="receive"),)

    @action
    async def receive(self, payload: Any, ctx: Context) -> Value:
        seen = [*(ctx.state or {}).get("seen", []), payload]
        return Value().state({"seen": seen})

    @action
    async def get(self, ctx: Context) -> Value:
        return Value().response((ctx.state or {}).get("seen", []))


class Pricer(Actor):
    """A pooled, stateless worker: any free instance answers, on the node that was called."""

    name = "pricer"
    kind = "pooled"
    min_pool_size = 1
    max_pool_size = 4

    @action
    async def quote(self, payload: Any, ctx: Context) -> Value:
        items = payload.get("items", []) if isinstance(payload, dict) else []
        return Value().response({"items": len(items), "price": 10 * len(items)})


class Checkout(Actor):
    """Pipe: its reply goes on to `pricer.quote`. Forward: its input goes on to `orders.place`."""

    name = "checkout"

    @action
    async def price(self, payload: Any, ctx: Context) -> Value:
        items = payload.get("items", []) if isinstance(payload, dict) else []
        return Value().response({"items": items}).pipe("pricer", "quote")

    @action
    async def order(self, payload: Any, ctx: Context) -> Value:
        return Value().forward("orders", "place")


class Journal(Actor):
    """A snapshot (write-behind) actor that checkpoints the entries it must never lose."""

    name = "journal"
    durability = "snapshot"

    @action
    async def write(self, payload: dict[str, Any], ctx: Context) -> Value:
        entries = [*(ctx.state or {}).get("entries", []), payload.get("text")]
        value = Value().state({"entries": entries}).response(len(entries))
        return value.checkpoint() if payload.get("important") else value


ACTORS = [Ticker, Orders, Audit, Shipper, Pricer, Checkout, Journal]
