"""The `systems` tag helpers: one parse of the tag for placement and the node's API."""

from __future__ import annotations

from roost.membership.base import Member, MemberStatus
from roost.membership.systems import SYSTEMS_TAG, any_host, hosts_system, named_systems
from roost.placement import router


def _m(mid: str, tag: str | None, status: MemberStatus = MemberStatus.ACTIVE) -> Member:
    tags = {} if tag is None else {SYSTEMS_TAG: tag}
    return Member(mid, f"{mid}:8800", f"{mid}:7946", status, tags=tags)


def test_a_member_without_the_tag_hosts_every_system() -> None:
    assert hosts_system(_m("a", None), "anything")
    assert not hosts_system(None, "anything")
    assert hosts_system(_m("a", "x,y"), "y")
    assert not hosts_system(_m("a", "x,y"), "z")
    assert not hosts_system(_m("a", ""), "")


def test_named_systems_counts_live_members_only() -> None:
    members = [_m("a", "x,y"), _m("b", "z", MemberStatus.FAILED), _m("c", None)]
    assert named_systems(members) == {"x", "y"}


def test_any_host_ignores_dead_members() -> None:
    members = [_m("a", "x"), _m("b", "z", MemberStatus.FAILED)]
    assert any_host(members, "x")
    assert not any_host(members, "z")


def test_router_still_exports_the_helpers() -> None:
    assert router.SYSTEMS_TAG == SYSTEMS_TAG
    assert router.hosts_system is hosts_system
