"""Owner-aware clients on real nodes (tests/node/fake_cluster.py): GET /v1/cluster/ring, the
X-Roost-Ring-Version header on every reply, and a `Client` that sends each call to its owner."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from examples.counters import Tally
from roost.node import cli
from roost.node.client import RING_HEADER, Client
from roost.node.clientring import ClientRing
from roost.placement.ring import HASH_NAME, Ring
from tests.node.fake_cluster import cluster

SYS = "spawn-system"
IDS = ["n1", "n2", "n3"]


async def _get(url: str) -> tuple[int, Any, str | None]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.json(), r.headers.get(RING_HEADER)


async def test_every_node_serves_the_same_ring_and_names_it_on_every_reply(
    tmp_path: Path, key: str
) -> None:
    async with cluster(tmp_path, key, IDS, [Tally]) as nodes:
        docs = []
        for n in nodes:
            base = f"http://{n.config.advertise_http}"
            status, doc, header = await _get(base + "/v1/cluster/ring")
            assert status == 200 and header == doc["version"]
            docs.append(doc)
            # an error reply carries it too
            status, _, header = await _get(base + "/v1/cluster/owner")
            assert status == 400 and header == doc["version"]
        assert docs[0] == docs[1] == docs[2]
        doc = docs[0]
        assert doc["hash"] == HASH_NAME and doc["vnodes"] == nodes[0].config.vnodes
        assert [m["id"] for m in doc["members"]] == IDS
        assert {m["http"] for m in doc["members"]} == {n.config.advertise_http for n in nodes}
        # the client's copy computes the nodes' owners
        ring = ClientRing(doc, "http")
        for i in range(300):
            owner = nodes[0].core.router.owner(SYS, f"t{i}")
            assert ring.ring_for(SYS).owner(SYS, f"t{i}") == owner
        # a member leaves: the version changes on the nodes that remain
        await nodes[2].drain()
        status, after, header = await _get(f"http://{nodes[0].config.advertise_http}/readyz")
        assert header is not None and header != doc["version"]
        status, after, _ = await _get(f"http://{nodes[1].config.advertise_http}/v1/cluster/ring")
        assert after["version"] == header and [m["id"] for m in after["members"]] == IDS[:2]


async def test_the_client_calls_owners_directly_and_follows_a_ring_change(
    tmp_path: Path, key: str
) -> None:
    async with cluster(tmp_path, key, IDS, [Tally]) as nodes:
        seed = f"http://{nodes[0].config.advertise_http}"
        path = [f"c{i}" for i in range(60)]
        now = [100.0]  # the client's clock: it fetches the ring at most once a second
        async with Client(seed, token="", clock=lambda: now[0]) as c:
            assert await c.refresh() and c.ring is not None
            before = sum(n.core.router.forwarded for n in nodes)
            for name in path:
                await c.invoke(name, "add", {"value": 2}, system=SYS, parent="tally")
            assert sum(n.core.router.forwarded for n in nodes) == before  # none forwarded
            served = [sum(1 for k in n.core.runtime.active if k[1] in path) for n in nodes]
            assert all(x > 0 for x in served) and sum(served) == len(path)

            old = c.ring.version
            await nodes[2].drain()  # its actors move; the client learns from a reply header
            now[0] += 1.5
            for name in path:
                reply = await c.invoke(name, "add", {"value": 1}, system=SYS, parent="tally")
                assert reply == {"total": 3}  # nothing lost or applied twice across the move
            if c._refresh_task is not None:
                await c._refresh_task
            assert c.ring.version != old and set(c.ring.urls) == {"n1", "n2"}
            ring = Ring(["n1", "n2"], nodes[0].config.vnodes)
            assert all(c.ring.ring_for(SYS).owner(SYS, x) == ring.owner(SYS, x) for x in path)


async def test_roost_ring_prints_the_members_and_their_shares(
    tmp_path: Path, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with cluster(tmp_path, key, IDS, [Tally]) as nodes:
        url = f"http://{nodes[1].config.advertise_http}"
        assert await asyncio.to_thread(cli.main, ["ring", "--url", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ring version ") and "1000 vnodes, hash sha256-48" in out[0]
    shares = [float(line.split()[1].rstrip("%")) for line in out[1:]]
    assert [line.split()[0] for line in out[1:]] == IDS
    assert sum(shares) == pytest.approx(100, abs=0.2) and all(25 < x < 42 for x in shares)
