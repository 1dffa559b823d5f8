"""A Python actor working with an actor written in Node.js (`js-counter`, from
sdks/node/examples/counter.js): it calls it, pipes to it, and tells who called it."""

from __future__ import annotations

from typing import Any

from roost import Actor, Context, Value, action


class Doubler(Actor):
    name = "doubler"

    @action
    async def add_twice(self, payload: dict[str, Any], ctx: Context) -> Value:
        """Add `value` to the Node actor twice: once by calling it, once by piping to it."""
        await ctx.invoke("js-counter", "add", {"value": payload["value"]})
        return Value().response({"value": payload["value"]}).pipe("js-counter", "add")

    @action
    async def whoami(self, payload: Any, ctx: Context) -> Value:
        caller = None if ctx.caller is None else {"name": ctx.caller.name}
        return Value().response({"caller": caller, "metadata": dict(ctx.metadata)})
