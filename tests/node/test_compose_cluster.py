"""Composition across nodes (three real nodes in one process, sharing a statestore): pipe, forward
and effects whose actors live on different nodes, broadcasts reaching subscribers on every node,
scheduled calls and protobuf over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from examples.composing import ACTORS
from examples.counters import Incrementor
from examples.proto_counter import AddMsg, ProtoCounter, TallyMsg
from roost.node.node import Node
from roost.placement.ring import Ring
from tests.node.fake_cluster import cluster, owned_by

IDS = ["x1", "x2", "x3"]  # the ring puts checkout, orders and audit on three different nodes
SYS = "spawn-system"
ALL = [*ACTORS, Incrementor, ProtoCounter]


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
