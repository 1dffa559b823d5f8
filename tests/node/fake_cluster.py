"""Several real `Node`s in one process, sharing one SQLite statestore and one membership hub.

The hub stands in for gossip: every node sees every status change at once, in order. All the rest
is real: each node serves HTTP on its own loopback port, forwards over its signed internal API,
and takes leases in the shared store. Good for forwarding, request-id and cluster-page tests;
gossip itself is tested with real serf agents in tests/membership.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from roost.membership.base import Member, MemberStatus, MemberView, ViewListener
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.placement.ring import Ring
from tests.conftest import free_port

SECRET = "fake-cluster-secret"


class Hub:
    """The shared member table; listeners hear every new view synchronously."""

    def __init__(self) -> None:
        self.view = MemberView({}, 0)
        self.listeners: list[ViewListener] = []

    def put(self, member: Member) -> None:
        self.view = MemberView({**self.view.members, member.id: member}, self.view.version + 1)
        for listener in list(self.listeners):
            listener(self.view)


class HubMembership:
    """One node's `Membership`, backed by the hub."""

    def __init__(self, hub: Hub, node_id: str, http: str) -> None:
        self.hub = hub
        self.me = Member(node_id, http, "", MemberStatus.JOINING)

    @property
    def view(self) -> MemberView:
        return self.hub.view

    def subscribe(self, listener: ViewListener) -> None:
        self.hub.listeners.append(listener)

    async def start(self) -> None:
        self.hub.put(self.me)

    async def set_status(self, status: MemberStatus) -> None:
        self.me = Member(self.me.id, self.me.http, "", status)
        self.hub.put(self.me)

    async def leave(self) -> None:
        await self.set_status(MemberStatus.LEFT)

    async def stop(self) -> None:
        return None


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, key: str, ids: Sequence[str], actors: Sequence[type], **config: object
) -> AsyncIterator[list[Node]]:
    """Start one node per id (all active once this yields); drain them all on exit."""
    hub = Hub()
    nodes: list[Node] = []
    try:
        for node_id in ids:
            http = f"127.0.0.1:{free_port()}"
            cfg = NodeConfig(
                node_id=node_id,
                http=http,
                seeds=("127.0.0.1:1",),  # cluster mode (a forwarder); the hub replaces gossip
                cluster_secret=SECRET,
                statestore=f"sqlite:///{tmp_path}/cluster.db",
                statestore_key=key,
                **config,  # type: ignore[arg-type]
            )
            node = Node(cfg, actor_classes=actors, membership=HubMembership(hub, node_id, http))
            nodes.append(node)
            await node.start()
        yield nodes
    finally:
        for node in reversed(nodes):
            await node.drain()


def owned_by(node_id: str, ids: Sequence[str], system: str, prefix: str) -> str:
    """An actor name the ring over `ids` gives to `node_id`."""
    ring = Ring(ids)
    for i in range(10_000):
        name = f"{prefix}{i}"
        if ring.owner(system, name) == node_id:
            return name
    raise AssertionError(f"no {prefix}N owned by {node_id}")
