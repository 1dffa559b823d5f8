"""The seed actors: `Incrementor` (named), and `Counter` / `Tally` (unnamed templates).

`Counter` persists every update before replying (``durability = "sync"``): an acknowledged
increment survives a kill -9. `Tally` writes behind (``"snapshot"``): faster, and after a hard
crash it may lose up to ``snapshot_timeout`` of updates; a graceful stop loses nothing.
"""

from roost import Actor, BadRequest, Context, Value, action


class Incrementor(Actor):
    name = "incrementor"
    kind = "named"
    state_type = "json"
    deactivate_timeout = 30_000
    snapshot_timeout = 10_000

    @action(init=True)
    async def init(self, ctx: Context) -> Value:
        return Value().state(ctx.state or {"total": 0})

    @action
    async def add(self, payload: dict, ctx: Context) -> Value:
        total = ctx.state["total"] + payload["value"]
        return Value().state({"total": total}).response({"total": total})


def _increment(payload: object, state: dict) -> int:
    if not isinstance(payload, dict) or "value" not in payload:
        raise BadRequest('payload must be an object like {"value": 1}')
    value = payload["value"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"value must be an integer, got {value!r}")
    return int(state["total"]) + value


class Counter(Actor):
    name = "counter"
    kind = "unnamed"
    durability = "sync"

    @action(init=True)
    async def init(self, ctx: Context) -> Value:
        return Value().state(ctx.state or {"total": 0})

    @action
    async def add(self, payload: dict, ctx: Context) -> Value:
        total = _increment(payload, ctx.state)
        return Value().state({"total": total}).response({"total": total})

    @action
    async def get(self, ctx: Context) -> Value:
        return Value().response({"total": ctx.state["total"]})


class Tally(Counter):
    name = "tally"
    durability = "snapshot"
