"""The Python client sends a call refused with 429 again (nothing ran), after the node's
Retry-After, a bounded number of times; it never re-sends any other error. Owner-aware: it sends
a call to the owner its ring names, around a member that refuses the connection, and never
re-sends a call that was cut off after it was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from roost.errors import Overloaded, Timeout, Unavailable
from roost.node.client import Client
from roost.placement.ring import HASH_NAME, Ring
from tests.conftest import free_port


class Node:
    """A stand-in node: answers the first `refuse` calls with `status`, then 200."""

    def __init__(self) -> None:
        self.refuse = 0
        self.status = 429
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.calls <= self.refuse:
            code = "overloaded" if self.status == 429 else "unavailable"
            body = {"error": {"code": code, "message": f"{code}, try later"}}
            return web.json_response(body, status=self.status, headers={"Retry-After": "0"})
        payload = orjson.loads(await request.read())
        return web.json_response({"total": payload["value"]})


@pytest.fixture
async def node() -> AsyncIterator[tuple[Node, str]]:
    fake = Node()
    app = web.Application()
    app.router.add_post("/v1/systems/{system}/actors/{actor}/actions/{action}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_shed_call_is_sent_again_after_retry_after(node: tuple[Node, str]) -> None:
    fake, url = node
    fake.refuse = 2
    async with Client(url, token="") as c:
        assert await c.invoke("incrementor", "add", {"value": 3}) == {"total": 3}
    assert fake.calls == 3


async def test_retries_are_bounded(node: tuple[Node, str]) -> None:
    fake, url = node
    fake.refuse = 10
    async with Client(url, token="", retries=2) as c:
        with pytest.raises(Overloaded) as err:
            await c.invoke("incrementor", "add", {"value": 3})
    assert fake.calls == 3
    assert err.value.retry_after == 0.0  # the node's Retry-After, read from the header


async def test_other_errors_are_never_sent_again(node: tuple[Node, str]) -> None:
    fake, url = node
    fake.refuse, fake.status = 1, 503  # may have run (a commit in doubt): not the client's call
    async with Client(url, token="") as c:
        with pytest.raises(Unavailable):
            await c.invoke("incrementor", "add", {"value": 3})
    assert fake.calls == 1


class RingNode:
    """A stand-in node that serves a ring document and counts the calls it takes; `cut` makes
    it drop the connection without an answer (the call reached it: its outcome is unknown)."""

    def __init__(self, node_id: str, port: int) -> None:
        self.id, self.port = node_id, port
        self.members: list[dict[str, object]] = []
        self.calls: list[str] = []
        self.cut = False
        self.hash = HASH_NAME

    async def ring(self, request: web.Request) -> web.Response:
        doc = {"version": "v1", "vnodes": 50, "hash": self.hash, "members": self.members}
        return web.json_response(doc, headers={"X-Roost-Ring-Version": "v1"})

    async def invoke(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(request.match_info["actor"])
        if self.cut:
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("cut")
        return web.json_response({"on": self.id}, headers={"X-Roost-Ring-Version": "v1"})


@pytest.fixture
async def ring_nodes() -> AsyncIterator[tuple[RingNode, RingNode, int]]:
    """Two live stand-ins (b, c) and the port of a member `a` that refuses connections."""
    dead = free_port()
    nodes = [RingNode("b", free_port()), RingNode("c", free_port())]
    members = [{"id": "a", "http": f"127.0.0.1:{dead}", "systems": None}]
    members += [{"id": n.id, "http": f"127.0.0.1:{n.port}", "systems": None} for n in nodes]
    runners = []
    for n in nodes:
        n.members = members
        app = web.Application()
        app.router.add_get("/v1/cluster/ring", n.ring)
        app.router.add_post("/v1/systems/{system}/actors/{actor}/actions/{action}", n.invoke)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", n.port).start()
        runners.append(runner)
    yield nodes[0], nodes[1], dead
    for r in runners:
        await r.cleanup()


def _owned(owner: str, n: int = 5) -> list[str]:
    ring = Ring(["a", "b", "c"], 50)
    return [x for x in (f"k{i}" for i in range(1000)) if ring.owner("s", x) == owner][:n]


async def test_calls_go_to_the_owner_and_around_a_member_that_refuses(
    ring_nodes: tuple[RingNode, RingNode, int],
) -> None:
    b, c, _ = ring_nodes
    async with Client(f"http://127.0.0.1:{b.port}", token="") as client:
        assert await client.refresh()
        for actor in _owned("c"):
            assert await client.invoke(actor, "add", system="s") == {"on": "c"}
        assert b.calls == [] and c.calls == _owned("c")
        # a's keys: a refuses the connection (nothing sent), so the first live node takes them
        for actor in _owned("a"):
            assert await client.invoke(actor, "add", system="s") == {"on": "b"}
        assert b.calls == _owned("a")


async def test_a_cluster_mid_upgrade_makes_the_client_forget_its_ring(
    ring_nodes: tuple[RingNode, RingNode, int],
) -> None:
    """The nodes now route with the ring of nodes that predate the SHA-256 ring (an upgrade is
    under way): the client must not keep computing owners with its old copy."""
    b, c, _ = ring_nodes
    async with Client(f"http://127.0.0.1:{b.port}", token="") as client:
        assert await client.refresh()
        b.hash = c.hash = "md5-uhashring"
        assert not await client.refresh()
        assert client.ring is None
        actor = _owned("c", 1)[0]
        assert await client.invoke(actor, "add", system="s") == {"on": "b"}  # the node named
        assert c.calls == []


async def test_a_call_cut_off_after_it_was_sent_is_not_sent_again(
    ring_nodes: tuple[RingNode, RingNode, int],
) -> None:
    b, c, _ = ring_nodes
    c.cut = True
    async with Client(f"http://127.0.0.1:{b.port}", token="") as client:
        assert await client.refresh()
        actor = _owned("c", 1)[0]
        with pytest.raises(Timeout, match="may have run"):
            await client.invoke(actor, "add", system="s")
    assert c.calls == [actor] and b.calls == []  # neither re-sent to c nor to another node


async def test_several_urls_fall_back_in_order_without_a_ring() -> None:
    dead = free_port()
    async with Client(f"http://127.0.0.1:{dead}, http://127.0.0.1:{dead + 0}", token="") as c:
        assert c.seeds == [f"http://127.0.0.1:{dead}", f"http://127.0.0.1:{dead}"]
        with pytest.raises(Unavailable, match="cannot reach any node"):
            await c.invoke("x", "add", system="s")
    with pytest.raises(ValueError):
        Client(" , ")
