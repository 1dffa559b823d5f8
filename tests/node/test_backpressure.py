"""Backpressure over HTTP on real nodes: past `--max-inflight` or an actor's `max_mailbox` the
caller gets 429 `overloaded` with `Retry-After` at once, also through a forwarding node; health,
readiness and metrics are never shed; a turn past its deadline answers 504 and the actor stays
usable. Turns are held open with asyncio Events (`tests.runtime.test_backpressure.gated`)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from roost.errors import ConfigError, Overloaded
from roost.node.config import NodeConfig, add_arguments, from_args
from roost.node.node import Node
from tests.node.fake_cluster import cluster, owned_by
from tests.node.test_http import A, call, code
from tests.runtime.test_backpressure import Gates, gated

SYS = "spawn-system"


def url(node: Node, actor: str, act: str, query: str = "") -> str:
    return f"http://{node.config.http}{A}/{actor}/actions/{act}?parent=gated{query}"


def assert_overloaded(st: int, data: Any, r: aiohttp.ClientResponse, says: str) -> None:
    assert (st, code(data)) == (429, "overloaded"), data
    assert r.headers["Retry-After"] == "1"
    assert says in data["error"]["message"]


async def until_queued(node: Node, n: int) -> None:
    """A call forwarded over HTTP gives no event to await: poll the owner's mailbox gauge."""
    async with asyncio.timeout(5):
        while sum(node.core.runtime.mailbox_depths().values()) < n:
            await asyncio.sleep(0.005)


async def test_the_node_bound_answers_429_with_retry_after_at_once(
    tmp_path: Path, key: str
) -> None:
    gates = Gates()
    actors = [gated(gates, kind="unnamed")]
    async with (
        cluster(tmp_path, key, ["solo"], actors, max_inflight=2) as (node,),
        aiohttp.ClientSession() as s,
    ):
        held = [asyncio.ensure_future(call(s, "POST", url(node, n, "hold"))) for n in ("g1", "g2")]
        await gates.entered["g1"].wait()
        await gates.entered["g2"].wait()
        assert node.inflight == 2
        async with asyncio.timeout(2):  # at once, while both turns are still held open
            assert_overloaded(*await call(s, "POST", url(node, "g3", "add")), "--max-inflight 2")
            # an async call that would be shed is refused, not accepted with a 202 and dropped
            assert_overloaded(
                *await call(s, "POST", url(node, "g3", "add", "&async=true")), "in flight"
            )
        for path in ("/healthz", "/readyz", "/metrics"):  # not invocations: never shed
            st, _, _ = await call(s, "GET", f"http://{node.config.http}{path}")
            assert st == 200, path
        assert node.metrics.shed == {(SYS, "gated", "inflight"): 2}
        assert node.metrics.invocations[(SYS, "gated", "add", "overloaded")] == 2

        gates.release.set()
        assert [r[:2] for r in await asyncio.gather(*held)] == [(200, {"held": 1})] * 2
        st, data, _ = await call(s, "POST", url(node, "g3", "add"))
        assert (st, data) == (200, {"n": 1})  # the shed calls changed nothing


async def test_an_owner_429_travels_back_through_the_forwarding_node(
    tmp_path: Path, key: str
) -> None:
    ids = ["a", "b"]
    g, h, k = (owned_by("b", ids, SYS, f"{p}-") for p in ("g", "h", "k"))
    gates = Gates()
    actors = [gated(gates, max_mailbox=1, kind="unnamed")]
    per_node = {"b": {"max_inflight": 3}}
    async with (
        cluster(tmp_path, key, ids, actors, per_node=per_node) as (a, b),
        aiohttp.ClientSession() as s,
    ):
        running = asyncio.ensure_future(call(s, "POST", url(a, g, "hold")))
        await gates.entered[g].wait()
        waiting = asyncio.ensure_future(call(s, "POST", url(a, g, "add")))
        await until_queued(b, 1)
        # a forwarded call is in flight once on each node it passes, never twice on one
        assert (a.inflight, b.inflight) == (2, 2)

        async with asyncio.timeout(2):  # at once, while the turns are held open
            # g's mailbox on b is full: b refuses, a passes the 429 on (not a 5xx, no retry)
            assert_overloaded(*await call(s, "POST", url(a, g, "add")), "max_mailbox 1")
            other = asyncio.ensure_future(call(s, "POST", url(a, h, "hold")))
            await gates.entered[h].wait()
            # b is at its own in-flight bound: a call forwarded to it is refused there
            assert_overloaded(*await call(s, "POST", url(a, k, "add")), "node b")

        assert b.metrics.shed == {(SYS, "gated", "mailbox"): 1, (SYS, "gated", "inflight"): 1}
        assert a.metrics.shed == {}  # counted where it was shed, once
        # one forward each: an overloaded owner is not tried again in a loop
        assert a.metrics.forwarded[(SYS, "gated", "overloaded")] == 2

        gates.release.set()
        done = await asyncio.gather(running, waiting, other)
        assert [r[:2] for r in done] == [(200, {"held": 1}), (200, {"n": 2}), (200, {"held": 1})]


async def test_after_a_504_the_actor_answers_and_its_mailbox_place_is_free(
    tmp_path: Path, key: str
) -> None:
    gates = Gates()
    actors = [gated(gates, max_mailbox=1, kind="unnamed")]
    async with (
        cluster(tmp_path, key, ["solo"], actors) as (node,),
        aiohttp.ClientSession() as s,
    ):
        quick = {"X-Roost-Timeout-Ms": "50"}
        st, data, _ = await call(s, "POST", url(node, "g1", "hold"), headers=quick)
        assert (st, code(data)) == (504, "timeout")  # the held turn was cut off at its deadline
        async with asyncio.timeout(2):  # and the actor answers at once, its state rolled back
            assert (await call(s, "POST", url(node, "g1", "add")))[:2] == (200, {"n": 1})

        gates.entered["g1"].clear()
        running = asyncio.ensure_future(call(s, "POST", url(node, "g1", "hold")))
        await gates.entered["g1"].wait()
        st, data, _ = await call(s, "POST", url(node, "g1", "add"), headers=quick)
        assert (st, code(data)) == (504, "timeout")  # timed out while waiting for its turn
        waiting = asyncio.ensure_future(call(s, "POST", url(node, "g1", "add")))
        await until_queued(node, 1)  # the place the 504 left is free: this one queues, no 429
        gates.release.set()
        done = await asyncio.gather(running, waiting)
        assert [r[:2] for r in done] == [(200, {"held": 2}), (200, {"n": 3})]
        assert node.metrics.shed == {}


@pytest.mark.parametrize("bad", [0, -5])
def test_max_inflight_must_be_at_least_one(bad: int) -> None:
    with pytest.raises(ConfigError, match="--max-inflight must be at least 1"):
        NodeConfig(max_inflight=bad).validate()


def test_max_inflight_reads_its_flag_and_variable() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_args(parser.parse_args([]), {}).max_inflight == 10_000
    assert from_args(parser.parse_args([]), {"ROOST_MAX_INFLIGHT": "7"}).max_inflight == 7
    ns = parser.parse_args(["--max-inflight", "3"])
    assert from_args(ns, {"ROOST_MAX_INFLIGHT": "7"}).max_inflight == 3
    with pytest.raises(ConfigError, match="--max-inflight"):
        from_args(parser.parse_args([]), {"ROOST_MAX_INFLIGHT": "0"})


async def test_an_accepted_async_call_is_not_shed_after_its_202(tmp_path: Path, key: str) -> None:
    """A 202 means the call was admitted: if the node fills up before the background task runs
    it, it must still run (shed then, it would be lost with nobody told), while any call not yet
    admitted is refused."""
    gates = Gates()
    async with cluster(tmp_path, key, ["solo"], [gated(gates, kind="unnamed")], max_inflight=1) as (
        node,
    ):
        held = asyncio.ensure_future(node.invoke("g1", "hold", system=SYS, parent="gated"))
        await gates.entered["g1"].wait()
        assert node.inflight == 1  # full
        with pytest.raises(Overloaded):
            await node.invoke("g2", "add", system=SYS, parent="gated")
        assert await node.invoke("g2", "add", system=SYS, parent="gated", admitted=True) == {"n": 1}
        gates.release.set()
        await held
