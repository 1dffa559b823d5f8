"""Warm-up and named subscribers on three real nodes (one process, a shared SQLite store): a
named actor is active on its owner without any call, again after a handoff moves it, and each
broadcast reaches a named subscriber exactly once whichever node sends it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from roost import Actor, Channel, Context, Value, action
from roost.membership.base import MemberStatus
from roost.node.node import Node
from roost.statestore import ActorKey
from tests.node.fake_cluster import cluster, owned_by

IDS = ["w1", "w2", "w3"]
SYS = "spawn-system"
KEY = ActorKey(SYS, "archive")


class Archive(Actor):
    name = "archive"
    durability = "sync"
    channels = (Channel("news", action="keep"),)

    @action
    async def keep(self, payload: Any, ctx: Context) -> Value:
        return Value().state({"kept": [*(ctx.state or {}).get("kept", []), payload]})


class Newsroom(Actor):
    name = "newsroom"
    kind = "unnamed"  # one per sender, so each node can send from its own instance

    @action
    async def publish(self, payload: Any, ctx: Context) -> Value:
        return Value().broadcast("news", payload)


async def eventually(check: Callable[[], Awaitable[Any] | Any], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


def holders(nodes: list[Node]) -> list[str]:
    return [n.config.node_id for n in nodes if KEY in n.core.runtime.active]


async def test_a_named_actor_is_warmed_on_its_owner_and_again_after_a_handoff(
    tmp_path: Path, key: str
) -> None:
    async with cluster(tmp_path, key, IDS, [Archive, Newsroom], lease=2.0) as nodes:
        owner = nodes[0].core.router.owner(SYS, "archive")
        assert await eventually(lambda: holders(nodes) == [owner]), holders(nodes)
        old = next(n for n in nodes if n.config.node_id == owner)
        await old.membership.set_status(MemberStatus.JOINING)  # out of the ring: hands off
        new = nodes[0 if old is not nodes[0] else 1].core.router.owner(SYS, "archive")
        assert new != owner
        # no call: the new owner activates it once the old one has released it
        assert await eventually(lambda: holders(nodes) == [new]), holders(nodes)


async def test_each_broadcast_reaches_a_named_subscriber_once_from_any_node(
    tmp_path: Path, key: str
) -> None:
    async with cluster(tmp_path, key, IDS, [Archive, Newsroom]) as nodes:
        owner_id = nodes[0].core.router.owner(SYS, "archive")
        owner = next(n for n in nodes if n.config.node_id == owner_id)
        await eventually(lambda: holders(nodes))
        rt = owner.core.runtime
        await rt.deactivate([rt.active[KEY]], "idle")  # idle: no activation anywhere
        for i, node in enumerate(nodes):  # every node sends one, from an instance it owns
            sender = owned_by(node.config.node_id, IDS, SYS, "pub")
            await node.invoke(sender, "publish", {"from": i}, system=SYS, parent="newsroom")

        async def kept() -> list[Any]:
            state = await owner.invoke("archive", "get_state", system=SYS)
            return (state or {}).get("kept", [])

        assert await eventually(lambda: _len_is(kept, 3))
        for node in nodes:
            await asyncio.gather(*node.core.runtime.tasks)
        assert sorted(x["from"] for x in await kept()) == [0, 1, 2]  # once each, never twice


async def _len_is(get: Callable[[], Awaitable[list[Any]]], n: int) -> bool:
    return len(await get()) >= n
