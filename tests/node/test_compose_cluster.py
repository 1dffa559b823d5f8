"""Composition across nodes (three real nodes in one process, sharing a statestore): pipe, forward
and effects whose actors live on different nodes, broadcasts reaching subscribers on every node,
scheduled calls (HTTP, `roost.invoke`, `ctx.invoke`), pooled calls, checkpoints and protobuf."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

import roost
from examples.composing import ACTORS
from examples.counters import Incrementor
from examples.proto_counter import AddMsg, ProtoCounter, TallyMsg
from roost import Actor, Context, Value, action
from roost.node.node import Node
from roost.placement.ring import Ring
from roost.statestore import ActorKey
from tests.node.fake_cluster import cluster, owned_by

IDS = ["k1", "k2", "k3"]  # checkout, orders, audit on 3 nodes; reminder and incrementor on 2
SYS = "spawn-system"
ALL = [*ACTORS, Incrementor, ProtoCounter]


class Reminder(Actor):
    """Schedules `incrementor.add` from its own turn: the call fires on incrementor's owner."""

    name = "reminder"

    @action
    async def remind(self, payload: dict[str, Any], ctx: Context) -> Value:
        sid = await ctx.invoke("incrementor", "add", payload, delay_ms=100)
        return Value().response({"scheduled": sid})


def url(node: Node, path: str) -> str:
    return f"http://{node.config.http}/v1/systems/{SYS}/actors/{path}"


async def post(s: aiohttp.ClientSession, node: Node, path: str, body: Any = None,
               **headers: str) -> tuple[int, Any]:  # fmt: skip
    data = b"" if body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", **headers}
    async with s.post(url(node, path), data=data, headers=hdrs) as r:
        return r.status, await r.json()


async def eventually(check: Any, seconds: float = 10.0) -> Any:
    """Poll an async check until it returns something truthy (background work, real time)."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


def test_the_named_example_actors_are_spread_over_the_nodes() -> None:
    """The cross-node tests below only mean something if these owners differ."""
    ring = Ring(IDS)
    owners = {a: ring.owner(SYS, a) for a in ("checkout", "orders", "audit")}
    assert len(set(owners.values())) == 3, owners


async def test_pipe_forward_and_effects_cross_nodes(tmp_path: Path, key: str) -> None:
    async with cluster(tmp_path, key, IDS, ALL) as nodes, aiohttp.ClientSession() as s:
        entry = nodes[-1]
        st, reply = await post(s, entry, "checkout/actions/price", {"items": [1, 2]})
        assert (st, reply) == (200, {"items": 2, "price": 20})
        st, reply = await post(
            s,
            entry,
            "checkout/actions/order",
            {"item": "tea"},
            **{"X-Roost-Metadata": '{"user": "ana"}'},
        )
        assert (st, reply) == (200, {"order": 1})

        async def audited() -> Any:
            _, log = await post(s, nodes[0], "audit/actions/get")
            return log

        log = await eventually(audited)
        assert log == [
            {
                "event": {"order": 1, "item": "tea", "by": "ana"},
                "caller": "orders",
                "metadata": {"user": "ana"},
            }
        ]


async def test_broadcast_reaches_subscribers_on_every_node(tmp_path: Path, key: str) -> None:
    async with cluster(tmp_path, key, IDS, ALL) as nodes, aiohttp.ClientSession() as s:
        shippers = [owned_by(n, IDS, SYS, "ship-") for n in IDS]  # one subscriber per node
        for name in shippers:
            assert (await post(s, nodes[0], f"{name}/actions/get?parent=shipper"))[0] == 200
        assert (await post(s, nodes[1], "orders/actions/place", {"item": "pie"}))[0] == 200
        expected = [{"order": 1, "item": "pie", "by": None}]
        for name in shippers:

            async def got(name: str = name) -> Any:
                return (await post(s, nodes[2], f"{name}/actions/get?parent=shipper"))[1]

            assert await eventually(got) == expected
        await asyncio.sleep(0.3)  # a duplicate would have arrived by now
        for name in shippers:
            assert (await post(s, nodes[0], f"{name}/actions/get?parent=shipper"))[1] == expected


async def test_scheduled_call_over_http(tmp_path: Path, key: str) -> None:
    async with cluster(tmp_path, key, IDS, ALL) as nodes, aiohttp.ClientSession() as s:
        st, reply = await post(s, nodes[0], "incrementor/actions/add?delay_ms=200", {"value": 4})
        assert st == 202 and isinstance(reply["scheduled"], str)
        st, reply = await post(s, nodes[0], "incrementor/actions/add?delay_ms=soon", {"value": 4})
        assert (st, reply["error"]["code"]) == (400, "bad_request")

        async def total() -> Any:
            return (await post(s, nodes[1], "incrementor/actions/get_state"))[1] == {"total": 4}

        assert await eventually(total)


async def test_scheduled_calls_through_roost_invoke_and_ctx_invoke(
    tmp_path: Path, key: str
) -> None:
    """Scheduled from non-owners (over HTTP by `roost.invoke`, and by an actor's `ctx.invoke`);
    each fires once, on incrementor's owner."""
    ring = Ring(IDS)
    owner = ring.owner(SYS, "incrementor")
    async with cluster(tmp_path, key, IDS, [*ALL, Reminder]) as nodes:
        by_id = {n.config.node_id: n for n in nodes}
        entry = next(n for n in nodes if n.config.node_id != owner)
        base = f"http://{entry.config.http}"
        first = await roost.invoke(
            "incrementor", action="add", payload={"value": 1}, system=SYS, url=base, delay_ms=100
        )
        second = await roost.invoke(
            "incrementor", action="add", payload={"value": 2}, system=SYS, url=base,
            scheduled_to=int(time.time() * 1000) + 100,
        )  # fmt: skip
        assert isinstance(first, str) and isinstance(second, str) and first != second
        reminder_home = by_id[ring.owner(SYS, "reminder")]
        assert reminder_home.config.node_id != owner  # it schedules for another node
        reply = await roost.invoke(
            "reminder", action="remind", payload={"value": 4}, system=SYS,
            url=f"http://{reminder_home.config.http}",
        )  # fmt: skip
        assert isinstance(reply["scheduled"], str)

        async def fired() -> bool:
            return sum(n.core.scheduler.fired for n in nodes) == 3

        assert await eventually(fired)
        assert {n.config.node_id: n.core.scheduler.fired for n in nodes} == {
            i: 3 if i == owner else 0 for i in IDS
        }
        total = await roost.invoke("incrementor", action="get_state", system=SYS, url=base)
        assert total == {"total": 7}


async def test_a_pooled_call_runs_on_the_node_it_reached(tmp_path: Path, key: str) -> None:
    gates: dict[str, asyncio.Event] = {}

    class Worker(Actor):
        name = "worker"
        kind = "pooled"
        max_pool_size = 2

        @action
        async def work(self, ctx: Context) -> Value:
            gates["entered"].set()
            await gates["release"].wait()
            return Value().response("done")

    async with cluster(tmp_path, key, IDS, [*ALL, Worker]) as nodes, aiohttp.ClientSession() as s:
        for node in nodes:  # the ring owner of "worker" is one of them: it makes no difference
            gates.update(entered=asyncio.Event(), release=asyncio.Event())
            call = asyncio.ensure_future(post(s, node, "worker/actions/work"))
            await gates["entered"].wait()
            busy = {n.config.node_id: n.core.runtime.pools[(SYS, "worker")].busy for n in nodes}
            assert busy == {n.config.node_id: int(n is node) for n in nodes}
            gates["release"].set()
            assert await call == (200, "done")
            assert not any((SYS, "worker") in n.core.runtime.active for n in nodes)


async def test_a_checkpoint_is_stored_by_the_owner_before_the_reply(
    tmp_path: Path, key: str
) -> None:
    """`journal` writes behind (snapshot), except the turns it checkpoints, which are in the
    store, written under its owner's lease, when the reply reaches a caller on another node."""
    owner = Ring(IDS).owner(SYS, "journal")
    async with cluster(tmp_path, key, IDS, ALL) as nodes, aiohttp.ClientSession() as s:
        entry = next(n for n in nodes if n.config.node_id != owner)
        row_key = ActorKey(SYS, "journal")
        assert await post(s, entry, "journal/actions/write", {"text": "scratch"}) == (200, 1)
        row = await entry.core.store.read(row_key)
        assert row is None or row.data is None  # write-behind: not stored yet
        body = {"text": "keep", "important": True}
        assert await post(s, entry, "journal/actions/write", body) == (200, 2)
        row = await entry.core.store.read(row_key)  # at once: no waiting for a snapshot
        assert row is not None and row.data is not None
        assert json.loads(row.data) == {"entries": ["scratch", "keep"]}
        assert row.owner == owner
        assert [n.config.node_id for n in nodes if (SYS, "journal") in n.core.runtime.active] == [
            owner
        ]


async def test_protobuf_over_http(tmp_path: Path, key: str) -> None:
    async with cluster(tmp_path, key, IDS, ALL) as nodes, aiohttp.ClientSession() as s:
        body = AddMsg(value=3).SerializeToString()
        headers = {
            "Content-Type": "application/protobuf",
            "X-Roost-Type": "roost.examples.Add",
            "Accept": "application/protobuf",
        }
        async with s.post(
            url(nodes[0], "proto-counter/actions/add"), data=body, headers=headers
        ) as r:
            assert r.status == 200 and r.headers["X-Roost-Type"] == "roost.examples.Tally"
            assert TallyMsg.FromString(await r.read()) == TallyMsg(total=3)
        st, reply = await post(s, nodes[1], "proto-counter/actions/add", {"value": 4})
        assert (st, reply) == (200, {"total": "7"})  # the message's JSON form (int64 as string)
        headers["X-Roost-Type"] = "no.such.Type"
        async with s.post(
            url(nodes[2], "proto-counter/actions/add"), data=body, headers=headers
        ) as r:
            assert r.status == 400
        bad = {**headers, "X-Roost-Type": "roost.examples.Add"}
        async with s.post(
            url(nodes[2], "proto-counter/actions/add"), data=b"\xff\xff", headers=bad
        ) as r:
            assert r.status == 400
