"""A test actor whose turn never ends, for drain tests (`--actors tests.node.slow_actor:Gate`).

`Gate` writes behind with a snapshot period far longer than any test, so its state reaches the
store only through a flush (a drain's handoff, or the last-resort flush when the drain gives up).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from roost import Actor, Context, Value, action


class Gate(Actor):
    name = "gate"
    durability = "snapshot"
    snapshot_timeout = 3_600_000  # ms: the write-behind never fires during a test

    @action
    async def add(self, payload: Any, ctx: Context) -> Value:
        n = (ctx.state or {}).get("n", 0) + 1
        return Value().state({"n": n}).response({"n": n})

    @action
    async def hold(self, payload: Any, ctx: Context) -> Value:
        """Start a turn that never finishes; first write `payload["marker"]` (if given), so a
        test in another process knows the turn has begun."""
        marker = (payload or {}).get("marker")
        if marker:
            await asyncio.to_thread(Path(marker).write_text, "held")
        await self.entered()
        await asyncio.Event().wait()
        return Value()

    async def entered(self) -> None:
        """Called once the turn has started (in-process tests override it to set an event)."""
