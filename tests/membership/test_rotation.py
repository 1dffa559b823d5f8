"""Rotating ROOST_CLUSTER_SECRET with rolling restarts, against real serf agents.

The keyring a node gives its agent is exactly its configured secrets (primary first), and in the
middle of a rotation (rollout 2: some nodes on the new secret, some still on the old one, each
accepting the other's) full nodes gossip and forward calls both ways, while a node with any other
secret still cannot join.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from examples.counters import Counter
from roost.membership import SerfAgent, SerfMembership, SerfRPC, SerfSettings, gossip_key
from roost.membership.keys import gossip_keyring, rpc_token
from roost.node.config import NodeConfig
from roost.node.node import Node
from tests.node.fake_cluster import owned_by

from .conftest import SERF_BIN, Watch, free_port

pytestmark = [pytest.mark.serf, pytest.mark.integration]
OLD = "the-old-cluster-secret-0123456789"
NEW = "the-new-cluster-secret-0123456789"
THIRD = "some-third-cluster-secret-0123456789"
SYS = "spawn-system"
Make = Callable[..., SerfMembership]


def two_active(view: Any) -> bool:
    return len(view.active_ids()) == 2


async def installed_keys(agent: SerfAgent, secret: str) -> dict[str, int]:
    client = await SerfRPC.connect(agent.rpc_addr, rpc_token(secret))
    try:
        return dict((await client.list_keys()).keys)
    finally:
        await client.close()


async def test_the_keyring_is_exactly_the_configured_secrets(tmp_path: Path) -> None:
    """Old secrets' keys are installed next to the primary, and one dropped from the config is
    gone after the next start, even with a persistent work dir (rollout 3 really removes it)."""
    settings = SerfSettings(
        node_id="k", gossip_bind=f"127.0.0.1:{free_port()}", serf_bin=SERF_BIN, log_level="warn"
    )

    async def start(keys: list[str]) -> SerfAgent:
        agent = SerfAgent(
            settings, tmp_path / "work", rpc_token=rpc_token(NEW), keys=keys, tags=dict
        )
        await agent.start()
        return agent

    agent = await start(gossip_keyring(NEW, (OLD,)))
    try:
        assert await installed_keys(agent, NEW) == {gossip_key(NEW): 1, gossip_key(OLD): 1}
    finally:
        await agent.stop()
    agent = await start(gossip_keyring(NEW))
    try:
        assert await installed_keys(agent, NEW) == {gossip_key(NEW): 1}
    finally:
        await agent.stop()


async def test_the_current_secret_encrypts_and_old_ones_only_decrypt(cluster: Make) -> None:
    """A node on NEW with OLD accepted speaks NEW: a node on NEW alone joins it, a node on OLD
    alone cannot (it cannot read the replies). So the primary is the current secret."""
    port = free_port()
    seed = f"127.0.0.1:{port}"
    hub = cluster("hub", (seed,), port=port, secret=NEW, old_secrets=(OLD,))
    await hub.start()
    fresh = cluster("fresh", (seed,), secret=NEW)
    watch = Watch(fresh)
    await fresh.start()
    await watch.until(lambda v: {"hub", "fresh"} <= set(v.members), 10)
    stale = cluster("stale", (seed,), secret=OLD, join_timeout=2)
    await stale.start()  # gives up joining after join_timeout and runs alone
    assert set(stale.view.members) == {"stale"}


@pytest.fixture
async def make_node(tmp_path: Path, key: str) -> AsyncIterator[Callable[..., Node]]:
    """make(node_id, gossip_port, seed, secret, old_secrets) -> an unstarted full node with its
    own serf agent; all share one SQLite statestore. Drained at the end."""
    made: list[Node] = []

    def make(node_id: str, port: int, seed: str, secret: str, old: tuple[str, ...]) -> Node:
        cfg = NodeConfig(
            node_id=node_id,
            http=f"127.0.0.1:{free_port()}",
            gossip=f"127.0.0.1:{port}",
            seeds=(seed,),
            statestore=f"sqlite:///{tmp_path}/cluster.db",
            statestore_key=key,
            cluster_secret=secret,
            cluster_old_secrets=old,
            serf_bin=SERF_BIN,
            join_timeout=10.0,
        )
        node = Node(cfg, actor_classes=[Counter])
        made.append(node)
        return node

    yield make
    for node in reversed(made):
        await node.drain()


async def call(s: aiohttp.ClientSession, via: Node, actor: str, value: int) -> tuple[int, Any]:
    url = f"http://{via.config.http}/v1/systems/{SYS}/actors/{actor}/actions/add?parent=counter"
    async with s.post(url, json={"value": value}) as r:
        return r.status, await r.json()


async def owner(s: aiohttp.ClientSession, via: Node, actor: str) -> str:
    url = f"http://{via.config.http}/v1/cluster/owner?system={SYS}&actor={actor}"
    async with s.get(url) as r:
        assert r.status == 200
        return str((await r.json())["owner"])


async def test_mid_rotation_nodes_gossip_and_forward_both_ways(
    make_node: Callable[..., Node], cluster: Make
) -> None:
    """Rollout 2: A has switched to NEW (OLD still accepted), B is still on OLD (NEW accepted).
    They form one cluster and each forwards a call the other owns, signed with its own secret."""
    port_a = free_port()
    seed = f"127.0.0.1:{port_a}"
    a = make_node("rot-a", port_a, seed, NEW, (OLD,))
    b = make_node("rot-b", free_port(), seed, OLD, (NEW,))
    watches = [Watch(cast(SerfMembership, n.membership)) for n in (a, b)]
    await a.start()
    await b.start()
    await asyncio.gather(*(w.until(two_active, 15) for w in watches))

    ids = ["rot-a", "rot-b"]
    on_a, on_b = owned_by("rot-a", ids, SYS, "c-"), owned_by("rot-b", ids, SYS, "c-")
    async with aiohttp.ClientSession() as s:
        for actor, owner_id in ((on_a, "rot-a"), (on_b, "rot-b")):
            assert await owner(s, a, actor) == owner_id == await owner(s, b, actor)
        assert await call(s, a, on_b, 5) == (200, {"total": 5})  # A signs with NEW, B checks
        assert await call(s, b, on_a, 7) == (200, {"total": 7})  # B signs with OLD, A checks
        assert await call(s, b, on_b, 1) == (200, {"total": 6})  # the state A's call left on B
    assert sum(a.metrics.forwarded.values()) >= 1 and sum(b.metrics.forwarded.values()) >= 1

    intruder = cluster("rot-c", (seed,), secret=THIRD, join_timeout=2)
    await intruder.start()  # neither OLD nor NEW: cannot read a single reply
    assert set(intruder.view.members) == {"rot-c"}
    membership = cast(SerfMembership, a.membership)
    assert membership.client is not None
    assert sorted(m.name for m in await membership.client.members()) == ids
