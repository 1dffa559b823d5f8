"""Turning Serf's member records and events into Roost's `MemberView`. Pure: no I/O, no clock.

Status derivation (Serf status x our `status` tag):

    serf status   status tag                  Roost status
    alive         joining | active | draining that tag
    alive         missing or unknown          joining  (never own actors by accident)
    leaving       any                         draining (it announced a graceful leave)
    left          any                         left
    failed        any                         failed
    none          any                         joining  (heard of, not yet confirmed)

`MemberTable` holds the current members; each change method returns the new view when the
member set really changed (and bumps the version by one), or None when it did not, so
listeners only hear about real changes. A `member-reap` event removes members; a full `sync`
removes whoever the agent no longer lists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from roost.membership.base import Member, MemberStatus, MemberView, ViewListener
from roost.membership.protocol import MemberEvent, SerfMember

log = logging.getLogger("roost.membership")

TAG_HTTP = "http"
TAG_STATUS = "status"
TAG_PROTO = "proto"
_TAGGED = {MemberStatus.JOINING, MemberStatus.ACTIVE, MemberStatus.DRAINING}


def derive_status(serf_status: str, tags: Mapping[str, str]) -> MemberStatus:
    if serf_status == "alive":
        tag = tags.get(TAG_STATUS, "")
        for status in _TAGGED:
            if status.value == tag:
                return status
        return MemberStatus.JOINING
    if serf_status == "leaving":
        return MemberStatus.DRAINING
    if serf_status == "left":
        return MemberStatus.LEFT
    if serf_status == "failed":
        return MemberStatus.FAILED
    return MemberStatus.JOINING


def to_member(record: SerfMember) -> Member:
    proto = record.tags.get(TAG_PROTO, "")
    return Member(
        id=record.name,
        http=record.tags.get(TAG_HTTP, ""),
        gossip=record.gossip,
        status=derive_status(record.status, record.tags),
        protocol=int(proto) if proto.isdigit() else 0,  # 0: not a Roost node, or too old
        tags=MappingProxyType(dict(record.tags)),
    )


class MemberTable:
    """The current members and view version. Not thread-safe: one owner mutates it."""

    def __init__(self, initial: Iterable[Member] = (), version: int = 0) -> None:
        self._view = MemberView(_freeze({m.id: m for m in initial}), version)

    @property
    def view(self) -> MemberView:
        return self._view

    def sync(self, records: Iterable[SerfMember]) -> MemberView | None:
        """Replace everything with the agent's full member list."""
        return self._commit({r.name: to_member(r) for r in records})

    def upsert(self, records: Iterable[SerfMember]) -> MemberView | None:
        """Add or update these members, leaving the others alone."""
        members = dict(self._view.members)
        members.update((r.name, to_member(r)) for r in records)
        return self._commit(members)

    def apply(self, event: MemberEvent) -> MemberView | None:
        """Apply one member event; `member-reap` removes, every other kind upserts."""
        if event.kind == "member-reap":
            members = dict(self._view.members)
            for record in event.members:
                members.pop(record.name, None)
            return self._commit(members)
        return self.upsert(event.members)

    def put(self, member: Member) -> MemberView | None:
        """Set one member as we know it locally (e.g. ourselves after a leave)."""
        members = dict(self._view.members)
        members[member.id] = member
        return self._commit(members)

    def _commit(self, members: dict[str, Member]) -> MemberView | None:
        if members == dict(self._view.members):
            return None
        self._view = MemberView(_freeze(members), self._view.version + 1)
        return self._view


def _freeze(members: Mapping[str, Member]) -> Mapping[str, Member]:
    return MappingProxyType(dict(sorted(members.items())))


@dataclass(frozen=True, slots=True)
class ViewChange:
    """What differs between two views: ids added, removed, and whose record changed."""

    added: frozenset[str]
    removed: frozenset[str]
    changed: frozenset[str]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff(old: MemberView, new: MemberView) -> ViewChange:
    before, after = set(old.members), set(new.members)
    return ViewChange(
        added=frozenset(after - before),
        removed=frozenset(before - after),
        changed=frozenset(i for i in before & after if old.members[i] != new.members[i]),
    )


class ViewPublisher:
    """Delivers views to listeners: in version order, one call at a time, synchronously.

    A listener that raises is logged and stays subscribed; it never stops the others. Views
    older than the last one published are dropped, so a listener never sees time go back.
    """

    def __init__(self) -> None:
        self._listeners: list[ViewListener] = []
        self._last = -1

    def subscribe(self, listener: ViewListener) -> None:
        self._listeners.append(listener)

    def publish(self, view: MemberView | None) -> None:
        if view is None or view.version <= self._last:
            return
        self._last = view.version
        for listener in list(self._listeners):
            try:
                listener(view)
            except Exception:
                log.exception(
                    "member view listener %r failed on version %d", listener, view.version
                )
