"""Pure view logic: status derivation, merging, versions, publishing. Deterministic, no I/O."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from types import MappingProxyType

import pytest

from roost.membership import MemberStatus, MemberView
from roost.membership.protocol import MemberEvent, SerfMember
from roost.membership.view import (
    MemberTable,
    ViewPublisher,
    derive_status,
    diff,
    to_member,
)


def rec(name: str, serf: str = "alive", **tags: str) -> SerfMember:
    """A Serf member record; keyword arguments become tags (``status=`` is our tag)."""
    return SerfMember(name, "10.0.0.1", 7946, MappingProxyType(dict(tags)), serf)


@pytest.mark.parametrize(
    ("serf_status", "tag", "expected"),
    [
        ("alive", "joining", MemberStatus.JOINING),
        ("alive", "active", MemberStatus.ACTIVE),
        ("alive", "draining", MemberStatus.DRAINING),
        ("alive", "", MemberStatus.JOINING),
        ("alive", "left", MemberStatus.JOINING),  # a tag cannot claim a gossip state
        ("alive", "bogus", MemberStatus.JOINING),
        ("leaving", "active", MemberStatus.DRAINING),
        ("left", "active", MemberStatus.LEFT),
        ("failed", "active", MemberStatus.FAILED),
        ("none", "active", MemberStatus.JOINING),
    ],
)
def test_status_derivation(serf_status: str, tag: str, expected: MemberStatus) -> None:
    tags = {"status": tag} if tag else {}
    assert derive_status(serf_status, tags) is expected


def test_to_member_reads_roost_tags() -> None:
    m = to_member(rec("n1", http="10.0.0.1:8800", status="active", proto="1", zone="a"))
    assert (m.id, m.http, m.gossip, m.status, m.protocol) == (
        "n1",
        "10.0.0.1:8800",
        "10.0.0.1:7946",
        MemberStatus.ACTIVE,
        1,
    )
    assert m.tags["zone"] == "a"
    assert to_member(rec("x")).protocol == 0  # no proto tag: not a Roost node


def test_ipv6_gossip_address_is_bracketed() -> None:
    m = to_member(SerfMember("n6", "fd00::1", 7946, {}, "alive"))
    assert m.gossip == "[fd00::1]:7946"


def test_version_bumps_only_on_real_change() -> None:
    table = MemberTable()
    v1 = table.sync([rec("a", status="active"), rec("b")])
    assert v1 is not None and v1.version == 1
    assert table.sync([rec("b"), rec("a", status="active")]) is None  # same set, other order
    assert table.apply(MemberEvent("member-update", (rec("a", status="active"),))) is None
    v2 = table.apply(MemberEvent("member-update", (rec("b", status="active"),)))
    assert v2 is not None and v2.version == 2
    assert v2.active_ids() == ["a", "b"]


def test_events_join_fail_leave_reap() -> None:
    table = MemberTable()
    table.apply(MemberEvent("member-join", (rec("a", status="active"), rec("b", status="active"))))
    view = table.apply(MemberEvent("member-failed", (rec("b", "failed", status="active"),)))
    assert view is not None and view.get("b") is not None
    assert view.get("b").status is MemberStatus.FAILED  # type: ignore[union-attr]
    assert view.failed_ids() == {"b"}
    view = table.apply(MemberEvent("member-leave", (rec("a", "left"),)))
    assert view is not None and view.failed_ids() == {"a", "b"}
    view = table.apply(MemberEvent("member-reap", (rec("b", "failed"),)))
    assert view is not None and set(view.members) == {"a"}
    assert view.version == 4


def test_sync_removes_members_the_agent_no_longer_lists() -> None:
    table = MemberTable()
    table.sync([rec("a"), rec("b")])
    view = table.sync([rec("a")])
    assert view is not None and set(view.members) == {"a"}


def test_reap_of_unknown_member_is_no_change() -> None:
    table = MemberTable()
    table.sync([rec("a")])
    assert table.apply(MemberEvent("member-reap", (rec("zz", "failed"),))) is None


class FakeEventSource:
    """A scripted, seeded stream of Serf member events over a small set of nodes."""

    def __init__(self, seed: int, nodes: int = 5) -> None:
        self.rng = random.Random(seed)
        self.names = [f"n{i}" for i in range(nodes)]

    def events(self, count: int) -> Iterator[MemberEvent]:
        kinds = ["member-join", "member-update", "member-failed", "member-leave", "member-reap"]
        statuses = {"member-failed": "failed", "member-leave": "left"}
        for _ in range(count):
            kind = self.rng.choice(kinds)
            name = self.rng.choice(self.names)
            tag = self.rng.choice(["joining", "active", "draining"])
            yield MemberEvent(kind, (rec(name, statuses.get(kind, "alive"), status=tag),))


@pytest.mark.parametrize("seed", [1, 2, 3, 42])
def test_fake_event_stream_versions_are_monotonic_and_views_consistent(seed: int) -> None:
    table = MemberTable()
    publisher = ViewPublisher()
    seen: list[MemberView] = []
    publisher.subscribe(seen.append)
    model: dict[str, MemberStatus] = {}
    for event in FakeEventSource(seed).events(300):
        publisher.publish(table.apply(event))
        record = event.members[0]
        if event.kind == "member-reap":
            model.pop(record.name, None)
        else:
            model[record.name] = derive_status(record.status, record.tags)
        assert {k: m.status for k, m in table.view.members.items()} == model, f"seed={seed}"
    versions = [v.version for v in seen]
    assert versions == list(range(1, len(seen) + 1)), f"seed={seed}"
    assert all(diff(a, b).empty is False for a, b in itertools.pairwise(seen))


def test_publisher_order_and_a_failing_listener_does_not_stop_others() -> None:
    table = MemberTable()
    publisher = ViewPublisher()
    calls: list[tuple[str, int]] = []

    def broken(view: MemberView) -> None:
        calls.append(("broken", view.version))
        raise RuntimeError("listener bug")

    publisher.subscribe(broken)
    publisher.subscribe(lambda v: calls.append(("ok", v.version)))
    publisher.publish(table.sync([rec("a")]))
    publisher.publish(table.sync([rec("a"), rec("b")]))
    publisher.publish(None)
    assert calls == [("broken", 1), ("ok", 1), ("broken", 2), ("ok", 2)]


def test_publisher_drops_stale_views() -> None:
    publisher = ViewPublisher()
    seen: list[int] = []
    publisher.subscribe(lambda v: seen.append(v.version))
    publisher.publish(MemberView({}, 3))
    publisher.publish(MemberView({}, 2))
    publisher.publish(MemberView({}, 3))
    assert seen == [3]


def test_diff() -> None:
    table = MemberTable()
    old = table.sync([rec("a"), rec("b")])
    new = table.sync([rec("a", status="active"), rec("c")])
    assert old is not None and new is not None
    change = diff(old, new)
    assert (change.added, change.removed, change.changed) == ({"c"}, {"b"}, {"a"})
