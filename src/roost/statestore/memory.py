"""An in-memory `StateStore`: the reference semantics, for tests and library use without a file.

Its clock is injected, so lease expiry is tested without sleeping. It can be told to fail
(`down = True`) to exercise the `StoreUnavailable` paths.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from roost.errors import LeaseHeld, StoreUnavailable
from roost.statestore import keys as K
from roost.statestore.base import ActorKey, Row, ScannedRow, WriteItem


@dataclass(slots=True)
class _Rec:
    data: bytes | None = None
    revision: int = 0
    owner: str | None = None
    expires: float = 0.0
    parent: str | None = None


class MemoryStore:
    """Rows in a dict. One instance may be shared by several simulated nodes."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._rows: dict[ActorKey, _Rec] = {}
        self.down = False
        self.writes = 0

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("in-memory store is marked down")

    def _held_by_other(self, rec: _Rec, node_id: str, steal_from: Collection[str]) -> bool:
        return (
            rec.owner is not None
            and rec.owner != node_id
            and rec.expires > self._clock()
            and rec.owner not in steal_from
        )

    async def migrate(self) -> None:
        self._check()

    async def ping(self) -> None:
        self._check()

    async def close(self) -> None:
        return None

    async def acquire(
        self,
        key: ActorKey,
        node_id: str,
        lease_s: float,
        *,
        parent: str | None = None,
        steal_from: Collection[str] = (),
    ) -> Row:
        self._check()
        K.check_key(key)
        K.check_node(node_id)
        K.check_parent(parent)
        rec = self._rows.get(key)
        if rec is None:
            rec = self._rows[key] = _Rec(parent=parent)
        elif self._held_by_other(rec, node_id, steal_from):
            raise LeaseHeld(
                f"{key} is held by {rec.owner}",
                holder=rec.owner or "",
                expires_in=rec.expires - self._clock(),
            )
        rec.owner = node_id
        rec.expires = self._clock() + lease_s
        if rec.parent is None:
            rec.parent = parent
        return Row(rec.data, rec.revision, rec.parent, rec.owner)

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        self._check()
        if items:
            K.check_node(node_id)
            K.check_keys([it.key for it in items])
        out: list[int | None] = []
        for it in items:
            rec = self._rows.get(it.key)
            if rec is None or rec.revision != it.expected_revision or rec.owner != node_id:
                out.append(None)
                continue
            rec.data = it.data
            rec.revision += 1
            self.writes += 1
            if it.release:
                rec.owner, rec.expires = None, 0.0
            else:
                rec.expires = self._clock() + lease_s
            out.append(rec.revision)
        return out

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        self._check()
        if keys:
            K.check_node(node_id)
            K.check_keys(keys)
        lost: set[ActorKey] = set()
        for k in keys:
            rec = self._rows.get(k)
            if rec is None or rec.owner != node_id:
                lost.add(k)
            else:
                rec.expires = self._clock() + lease_s
        return lost

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        self._check()
        if keys:
            K.check_node(node_id)
            K.check_keys(keys)
        for k in keys:
            rec = self._rows.get(k)
            if rec is not None and rec.owner == node_id:
                rec.owner, rec.expires = None, 0.0

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        self._check()
        if keys:
            K.check_node(node_id)
            K.check_keys(keys)
        for k in keys:
            rec = self._rows.get(k)
            if rec is not None and rec.owner == node_id:
                del self._rows[k]

    async def read(self, key: ActorKey) -> Row | None:
        self._check()
        K.check_key(key)
        rec = self._rows.get(key)
        if rec is None:
            return None
        owner = rec.owner if rec.owner is not None and rec.expires > self._clock() else None
        return Row(rec.data, rec.revision, rec.parent, owner)

    async def register(self, key: ActorKey, parent: str) -> None:
        self._check()
        K.check_key(key)
        K.check_parent(parent)
        rec = self._rows.setdefault(key, _Rec())
        if rec.parent is None:
            rec.parent = parent

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        self._check()
        keys = sorted(k for k, r in self._rows.items() if r.data is not None)
        if after is not None:
            keys = [k for k in keys if tuple(k) > tuple(after)]
        return [
            ScannedRow(k, self._rows[k].data or b"", self._rows[k].revision) for k in keys[:limit]
        ]

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        self._check()
        K.check_key(key)
        rec = self._rows.get(key)
        if rec is None or rec.revision != revision or rec.data != old:
            return False
        rec.data = new
        return True
