"""The `systems` gossip tag: which systems a member hosts. Read by placement (each system's ring)
and by the node's API (who hosts what); kept here so neither imports the other for it."""

from __future__ import annotations

from collections.abc import Iterable

from roost.membership.base import Member

SYSTEMS_TAG = "systems"  # the comma list of systems a member hosts


def systems_of(member: Member) -> list[str] | None:
    """The systems a member's tag names, or None when it has no tag (it hosts every system)."""
    tag = member.tags.get(SYSTEMS_TAG)
    return None if tag is None else [s for s in tag.split(",") if s]


def hosts_system(member: Member | None, system: str) -> bool:
    """Whether a member hosts `system`, by its `systems` tag (absent: it hosts every system)."""
    if member is None:
        return False
    names = systems_of(member)
    return names is None or system in names


def named_systems(members: Iterable[Member]) -> set[str]:
    """Every system some live member's tag names."""
    out: set[str] = set()
    for m in members:
        names = systems_of(m) if m.alive else None
        if names:
            out.update(names)
    return out


def any_host(members: Iterable[Member], system: str) -> bool:
    """Whether some live member hosts `system` (the test behind "no member hosts system X")."""
    return any(m.alive and hosts_system(m, system) for m in members)
