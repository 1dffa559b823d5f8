"""The ring of Roost before the SHA-256 ring (uhashring: MD5 points, 160 per member), kept for
one purpose: a rolling upgrade. Nodes that predate the SHA-256 ring compute owners this way and
do not advertise the `ring` tag; while any active member lacks the tag, every node uses this
ring, so old and new nodes agree on every owner and calls never bounce between two rings. Once
the last old node has left, the members all advertise the tag and the cluster moves to the
SHA-256 ring in one view change (a normal rebalance: live handoff, nothing lost).
"""

from __future__ import annotations

from collections.abc import Iterable

from uhashring import HashRing

from roost.placement.ring import Ring, ring_key

LEGACY_HASH = "md5-uhashring"  # what GET /v1/cluster/ring reports in this mode
LEGACY_VNODES = 160  # the only vnode count nodes before the SHA-256 ring used by default
_SPACE = 1 << 128  # uhashring's point is the MD5 of the key, as an integer


class LegacyRing(Ring):
    """Owner lookup as uhashring computes it, with the `Ring` interface."""

    __slots__ = ("_hr",)
    hash_name = LEGACY_HASH

    def __init__(
        self, members: Iterable[str], vnodes: int = LEGACY_VNODES, version: int = 0
    ) -> None:
        super().__init__(members, vnodes, version, _points=([], []))
        self._hr = HashRing(nodes=list(self.members), vnodes=vnodes) if self.members else None

    def owner(self, system: str, actor: str) -> str | None:
        if len(self.members) < 2:
            return self.members[0] if self.members else None
        assert self._hr is not None
        return str(self._hr.get_node(ring_key(system, actor)))

    def same_members(self, other: Ring) -> bool:
        return isinstance(other, LegacyRing) and super().same_members(other)

    def with_version(self, version: int) -> Ring:
        return LegacyRing(self.members, self.vnodes, version)

    def subset(self, members: Iterable[str]) -> Ring:
        return LegacyRing(set(members) & set(self.members), self.vnodes, self.version)

    def arcs(self) -> list[tuple[float, float, str]]:
        if self._hr is None:
            return []
        if len(self.members) == 1:
            return [(0.0, 1.0, self.members[0])]
        points = self._hr.get_points()  # sorted (hash, owner); a point owns up to its hash
        space = max(_SPACE, points[-1][0] + 1)
        out: list[tuple[float, float, str]] = []
        start = 0
        for h, owner in [*points, (space, points[0][1])]:  # the wrap-around arc: first owner
            if out and out[-1][2] == owner:
                out[-1] = (out[-1][0], h / space, owner)
            elif h > start:
                out.append((start / space, h / space, str(owner)))
            start = h
        return out
