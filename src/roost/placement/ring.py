"""The consistent-hash ring (uhashring) and pure functions over it.

Every node builds the same ring from the same set of active members, so every node computes the
same owner for ``system/actor`` without asking anyone. A ring is immutable once built: a change of
membership builds a new one, and `moves` says which keys changed hands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from uhashring import HashRing

HASH_SPACE = 1 << 128  # uhashring's default hash is the MD5 of the key, as an integer
DEFAULT_VNODES = 160  # uhashring's default; gives a max/mean load near 1.1 with 3-10 members


def ring_key(system: str, actor: str) -> str:
    return f"{system}/{actor}"


class Ring:
    """Owner lookup over a fixed set of members."""

    __slots__ = ("_ring", "members", "version", "vnodes")

    def __init__(self, members: Iterable[str], vnodes: int = DEFAULT_VNODES, version: int = 0):
        self.members: tuple[str, ...] = tuple(sorted(set(members)))
        self.vnodes = vnodes
        self.version = version
        self._ring = HashRing(nodes=list(self.members), vnodes=vnodes) if self.members else None

    def __len__(self) -> int:
        return len(self.members)

    def owner(self, system: str, actor: str) -> str | None:
        """The member owning the actor, or None when the ring is empty."""
        if self._ring is None:
            return None
        if len(self.members) == 1:
            return self.members[0]
        return str(self._ring.get_node(ring_key(system, actor)))

    def same_members(self, other: Ring) -> bool:
        return self.members == other.members and self.vnodes == other.vnodes

    def arcs(self) -> list[tuple[float, float, str]]:
        """The hash space as (start, end, owner) arcs, in fractions of the ring (0..1), adjacent
        arcs of one owner merged: what the cluster page draws, and the exact ownership shares."""
        if self._ring is None:
            return []
        if len(self.members) == 1:
            return [(0.0, 1.0, self.members[0])]
        points = self._ring.get_points()  # sorted (hash, owner); a point owns up to its hash
        space = max(HASH_SPACE, points[-1][0] + 1)
        out: list[tuple[float, float, str]] = []
        start = 0
        for h, owner in [*points, (space, points[0][1])]:  # the wrap-around arc: first owner
            if out and out[-1][2] == owner:
                out[-1] = (out[-1][0], h / space, owner)
            elif h > start:
                out.append((start / space, h / space, str(owner)))
            start = h
        return out

    def shares(self) -> dict[str, float]:
        """The fraction of the hash space (so of the actors, on average) each member owns."""
        out = dict.fromkeys(self.members, 0.0)
        for a, b, owner in self.arcs():
            out[owner] += b - a
        return out


@dataclass(frozen=True, slots=True)
class Move:
    system: str
    actor: str
    old: str | None
    new: str | None


def moves(old: Ring, new: Ring, keys: Iterable[tuple[str, str]]) -> list[Move]:
    """Which of `keys` change owner between two rings."""
    out = []
    for system, actor in keys:
        a, b = old.owner(system, actor), new.owner(system, actor)
        if a != b:
            out.append(Move(system, actor, a, b))
    return out


def to_hand_off(me: str, ring: Ring, active: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Active keys this node must give up: the ring names another owner (or nobody)."""
    return [k for k in active if ring.owner(*k) != me]


def load(ring: Ring, keys: Sequence[tuple[str, str]]) -> Mapping[str, int]:
    """How many of `keys` each member owns (for spread measurements)."""
    counts = dict.fromkeys(ring.members, 0)
    for system, actor in keys:
        o = ring.owner(system, actor)
        if o is not None:
            counts[o] += 1
    return counts
