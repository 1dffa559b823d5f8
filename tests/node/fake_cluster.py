"""Several real `Node`s in one process, sharing one SQLite statestore and one membership hub.

The hub stands in for gossip: every node sees every status change at once, in order. All the rest
is real: each node serves HTTP on its own loopback port, forwards over its signed internal API,
and takes leases in the shared store. Good for forwarding, request-id and cluster-page tests;
gossip itself is tested with real serf agents in tests/membership.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
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

    def __init__(
        self, hub: Hub, node_id: str, http: str, tags: dict[str, str] | None = None
    ) -> None:
        self.hub = hub
        self.tags = dict(tags or {})
        self.me = Member(node_id, http, "", MemberStatus.JOINING, tags=self.tags)

    @property
    def view(self) -> MemberView:
        return self.hub.view

    def subscribe(self, listener: ViewListener) -> None:
        self.hub.listeners.append(listener)

    async def start(self) -> None:
        self.hub.put(self.me)

    async def set_status(self, status: MemberStatus) -> None:
        self.me = Member(self.me.id, self.me.http, "", status, tags=self.tags)
        self.hub.put(self.me)

    async def leave(self) -> None:
        await self.set_status(MemberStatus.LEFT)

    async def stop(self) -> None:
        return None


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path,
    key: str,
    ids: Sequence[str],
    actors: Sequence[type],
    per_node: Mapping[str, Mapping[str, object]] | None = None,
    **config: object,
) -> AsyncIterator[list[Node]]:
    """Start one node per id (all active once this yields); drain them all on exit.
    `per_node[id]` overrides settings of one node (e.g. the systems it hosts, or its
    `actor_classes`)."""
    hub = Hub()
    nodes: list[Node] = []
    try:
        for node_id in ids:
            http = f"127.0.0.1:{free_port()}"
            settings = {
                "statestore": f"sqlite:///{tmp_path}/cluster.db",
                **config,
                **(per_node or {}).get(node_id, {}),
            }
            classes = settings.pop("actor_classes", actors)
            settings.setdefault("proxy_http", "off")  # port 9001 is not ours to take in tests
            settings.setdefault("cluster_secret", SECRET)
            cfg = NodeConfig(
                node_id=node_id,
                http=http,
                seeds=("127.0.0.1:1",),  # cluster mode (a forwarder); the hub replaces gossip
                statestore_key=key,
                **settings,  # type: ignore[arg-type]
            )
            membership = HubMembership(hub, node_id, http)
            node = Node(cfg, actor_classes=classes, membership=membership)  # type: ignore[arg-type]
            membership.tags = dict(node.gossip_tags)  # what a Serf agent would carry
            membership.me = Member(node_id, http, "", MemberStatus.JOINING, tags=membership.tags)
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
