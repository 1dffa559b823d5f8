"""`ChaosLog` / `ChaosLogSnap`: actors that remember which operations they applied, in order.

The chaos harness uses them to find lost, duplicated or reordered updates exactly: every request
carries a unique op id, the state is the list of applied ids, and every reply is that whole list.
A run is bounded (the harness sends a few thousand ops), so the list stays small.
`chaoslog` persists before replying (``durability = "sync"``), `chaoslog-snap` writes behind.
"""

from roost import Actor, BadRequest, Context, Value, action


class ChaosLog(Actor):
    name = "chaoslog"
    kind = "unnamed"
    durability = "sync"

    @action(init=True)
    async def init(self, ctx: Context) -> Value:
        return Value().state(ctx.state or {"ops": []})

    @action
    async def apply(self, payload: dict, ctx: Context) -> Value:
        op = payload.get("op") if isinstance(payload, dict) else None
        if isinstance(op, bool) or not isinstance(op, int):
            raise BadRequest('payload must be an object like {"op": 17}')
        ops = [*ctx.state["ops"], op]
        return Value().state({"ops": ops}).response({"ops": ops})

    @action
    async def read(self, ctx: Context) -> Value:
        return Value().response({"ops": ctx.state["ops"]})


class ChaosLogSnap(ChaosLog):
    name = "chaoslog-snap"
    durability = "snapshot"
