"""What the rest of Roost knows about membership: members, the view, and the `Membership` protocol.

A `Member` is one node as gossip sees it. The `MemberView` is an immutable snapshot with a version
that increases on every change; placement rebuilds its ring from it. Status values:

- ``joining``: the node gossips but is not ready to own actors yet;
- ``active``: it owns its share of the ring;
- ``draining``: it is handing its actors off (SIGTERM); peers route around it at once;
- ``failed``: gossip lost it (crash, partition); its leases may be taken;
- ``left``: it said goodbye.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

PROTOCOL_VERSION = 1


class MemberStatus(StrEnum):
    JOINING = "joining"
    ACTIVE = "active"
    DRAINING = "draining"
    FAILED = "failed"
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    http: str
    gossip: str
    status: MemberStatus
    protocol: int = PROTOCOL_VERSION
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.status in (MemberStatus.JOINING, MemberStatus.ACTIVE, MemberStatus.DRAINING)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "http": self.http,
            "gossip": self.gossip,
            "status": str(self.status),
            "protocol": self.protocol,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True, slots=True)
class MemberView:
    """An immutable snapshot of the cluster as this node sees it."""

    members: Mapping[str, Member]
    version: int

    def active_ids(self) -> list[str]:
        return sorted(m.id for m in self.members.values() if m.status is MemberStatus.ACTIVE)

    def failed_ids(self) -> frozenset[str]:
        return frozenset(
            m.id
            for m in self.members.values()
            if m.status in (MemberStatus.FAILED, MemberStatus.LEFT)
        )

    def get(self, member_id: str) -> Member | None:
        return self.members.get(member_id)


ViewListener = Callable[[MemberView], None]


class Membership(Protocol):
    """How the node learns who is in the cluster, and tells the others about itself.

    Listeners are called synchronously from the event loop, in view-version order, never
    concurrently; they must not block (schedule work instead).
    """

    @property
    def view(self) -> MemberView: ...

    def subscribe(self, listener: ViewListener) -> None: ...

    async def start(self) -> None:
        """Start (or attach to) gossip and join the seeds; returns once joined or alone."""

    async def set_status(self, status: MemberStatus) -> None:
        """Publish this node's status to the cluster (a Serf tag)."""

    async def leave(self) -> None:
        """Leave the cluster gracefully (peers see `left`, not `failed`)."""

    async def stop(self) -> None:
        """Stop gossip and any agent this node started."""


class LocalMembership:
    """A cluster of one: no gossip, no agent. Used when no seeds are given."""

    def __init__(
        self, node_id: str, http: str, gossip: str = "", tags: Mapping[str, str] | None = None
    ) -> None:
        self._me = Member(node_id, http, gossip, MemberStatus.JOINING, tags=dict(tags or {}))
        self._view = MemberView({node_id: self._me}, 1)
        self._listeners: list[ViewListener] = []

    @property
    def view(self) -> MemberView:
        return self._view

    def subscribe(self, listener: ViewListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        return None

    async def set_status(self, status: MemberStatus) -> None:
        self._me = Member(self._me.id, self._me.http, self._me.gossip, status, tags=self._me.tags)
        self._view = MemberView({self._me.id: self._me}, self._view.version + 1)
        for listener in self._listeners:
            listener(self._view)

    async def leave(self) -> None:
        await self.set_status(MemberStatus.LEFT)

    async def stop(self) -> None:
        return None
