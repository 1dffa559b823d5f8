"""The consistent-hash ring, and pure functions over it.

Every node builds the same ring from the same set of active members, so every node computes the
same owner for ``system/actor`` without asking anyone; an owner-aware client (Python here, the
Node SDK in `sdks/node/src/ring.ts`) builds it too and sends each call to the owner. The ring is
small enough to write in any language, and this is its whole definition:

- a point is 6 bytes of a SHA-256 digest read big-endian: an integer below 2**48 (exact in a
  JavaScript number); ``point(text)`` is the first 6 bytes of SHA-256(UTF-8 text);
- member ``m`` puts ``vnodes`` points on the ring: the digest of ``f"{m}#{j}"`` for ``j`` = 0, 1,
  ... gives 5 points each (bytes 0-5, 6-11, ..., 24-29), in that order, until there are
  ``vnodes`` (5 points a digest: a 10-member ring of 1000 vnodes is 2,000 digests, not 10,000);
- the points are sorted by (point, then the member's UTF-8 bytes), and of equal
  points only the first is kept;
- key ``system/actor`` is owned by the member of the first point ``>= point(key)``, wrapping
  around to the first point of the ring.

A ring is immutable once built: a change of membership builds a new one, and `moves` says which
keys changed hands. A member's points do not depend on the other members, so a ring over a subset
of members (one system's hosts) is a filter of the full ring's points (`subset`).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

HASH_SPACE = 1 << 48  # a point is the first 6 bytes of a SHA-256 digest
POINTS_PER_DIGEST = 5  # 6-byte points from one 32-byte digest
HASH_NAME = "sha256-48"  # what GET /v1/cluster/ring reports, so clients can check they agree
# 1000 points per member keep the most loaded of 3-10 members within ~1.05x of the mean (1.10x at
# worst over 20 sets of member names, see bench/ring.py); a 10-member ring builds in ~15 ms.
DEFAULT_VNODES = 1000


RING_TAG = "ring"  # gossip tag: the ring a member computes (HASH_NAME); absent on older nodes


def ring_key(system: str, actor: str) -> str:
    return f"{system}/{actor}"


def point(text: str) -> int:
    """Where `text` (a key, or a member's virtual node) falls on the ring."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")


def member_points(member: str, vnodes: int) -> list[int]:
    """The member's `vnodes` points: 5 from each digest of ``member#j``."""
    out: list[int] = []
    for j in range((vnodes + POINTS_PER_DIGEST - 1) // POINTS_PER_DIGEST):
        d = hashlib.sha256(f"{member}#{j}".encode()).digest()
        out += [int.from_bytes(d[k : k + 6], "big") for k in range(0, 30, 6)]
    return out[:vnodes]


class Ring:
    """Owner lookup over a fixed set of members."""

    __slots__ = ("_owners", "_points", "members", "version", "vnodes")
    hash_name = HASH_NAME  # what GET /v1/cluster/ring reports (clients check they agree)

    def __init__(
        self,
        members: Iterable[str],
        vnodes: int = DEFAULT_VNODES,
        version: int = 0,
        *,
        _points: tuple[list[int], list[str]] | None = None,
    ) -> None:
        self.members: tuple[str, ...] = tuple(sorted(set(members)))
        self.vnodes = vnodes
        self.version = version
        if _points is None:
            _points = _build(self.members, vnodes)
        self._points, self._owners = _points

    def __len__(self) -> int:
        return len(self.members)

    def owner(self, system: str, actor: str) -> str | None:
        """The member owning the actor, or None when the ring is empty."""
        if len(self.members) < 2:
            return self.members[0] if self.members else None
        owners = self._owners
        i = bisect_left(self._points, point(f"{system}/{actor}"))
        return owners[i] if i < len(owners) else owners[0]

    def same_members(self, other: Ring) -> bool:
        return self.members == other.members and self.vnodes == other.vnodes

    def with_version(self, version: int) -> Ring:
        """The same ring under another version: no hashing (a view change that kept members)."""
        return Ring(self.members, self.vnodes, version, _points=(self._points, self._owners))

    def subset(self, members: Iterable[str]) -> Ring:
        """The ring over some of these members, by filtering points (no hashing): exactly what
        building it from scratch gives, since a member's points do not depend on the others."""
        keep = set(members) & set(self.members)
        pairs = [(p, o) for p, o in zip(self._points, self._owners, strict=True) if o in keep]
        points = ([p for p, _ in pairs], [o for _, o in pairs])
        return Ring(keep, self.vnodes, self.version, _points=points)

    def arcs(self) -> list[tuple[float, float, str]]:
        """The hash space as (start, end, owner) arcs, in fractions of the ring (0..1), adjacent
        arcs of one owner merged: what the cluster page draws, and the exact ownership shares."""
        if not self.members:
            return []
        if len(self.members) == 1:
            return [(0.0, 1.0, self.members[0])]
        points, owners = self._points, self._owners
        out: list[tuple[float, float, str]] = []
        start = 0
        # a point owns the keys up to and including it; the wrap-around arc is the first owner's
        for h, owner in [*zip(points, owners, strict=True), (HASH_SPACE, owners[0])]:
            if out and out[-1][2] == owner:
                out[-1] = (out[-1][0], h / HASH_SPACE, owner)
            elif h > start:
                out.append((start / HASH_SPACE, h / HASH_SPACE, owner))
            start = h
        return out

    def shares(self) -> dict[str, float]:
        """The fraction of the hash space (so of the actors, on average) each member owns."""
        out = dict.fromkeys(self.members, 0.0)
        for a, b, owner in self.arcs():
            out[owner] += b - a
        return out


def _build(members: Sequence[str], vnodes: int) -> tuple[list[int], list[str]]:
    """Sorted points and their owners; of equal points, the member first in UTF-8 order wins."""
    if len(members) < 2:  # `owner` needs no points: one member owns everything
        return [], []
    # one sort of plain ints: point, then the member's index in `members` (sorted, and str order
    # is code point order, which is UTF-8 byte order) in the low bits
    shift = (len(members) - 1).bit_length()
    mask = (1 << shift) - 1
    vals = sorted(p << shift | i for i, m in enumerate(members) for p in member_points(m, vnodes))
    points = [v >> shift for v in vals]
    owners = [members[v & mask] for v in vals]
    if len(set(points)) != len(points):  # two equal 48-bit points: rare; the first one wins
        keep = [i for i in range(len(points)) if i == 0 or points[i] != points[i - 1]]
        points, owners = [points[i] for i in keep], [owners[i] for i in keep]
    return points, owners


def ring_version(members: Mapping[str, str | None], vnodes: int, hash_name: str = HASH_NAME) -> str:
    """A short digest of what decides every owner: the active members, the systems each hosts
    (None: all) and the vnode count. Equal on every node whose view agrees, so a client can tell
    from one reply header that its copy of the ring is stale (a node's view version is a local
    counter, not comparable across nodes)."""
    text = "\n".join(f"{m}\t{members[m] or '*'}" for m in sorted(members))
    if hash_name != HASH_NAME:  # the ring of a rolling upgrade (ring_legacy): another version
        text = f"{hash_name}\n{text}"
    return hashlib.sha256(f"{vnodes}\n{text}".encode()).hexdigest()[:16]


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
