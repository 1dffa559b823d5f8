"""`MeteredStore`: counts statestore errors by kind, whichever part of the node made the call.

Counting at this one edge (rather than in each caller) sees every operation: activations,
fenced writes, lease renewals, releases, reads and readiness pings. A lease held by another node
is an answer, not an error (it is counted as a lease wait by the runtime), and a fenced write
that loses its compare-and-set returns normally (a CAS conflict, counted by the runtime).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

from roost.errors import DecryptionError, LeaseHeld, RoostError, StoreUnavailable
from roost.metrics.registry import Counts, Metrics
from roost.statestore.base import ActorKey, Row, ScannedRow, StateStore, WriteItem


def error_kind(exc: BaseException) -> str | None:
    """The `kind` label of a statestore error, or None when `exc` is not one to count."""
    if isinstance(exc, LeaseHeld) or not isinstance(exc, Exception):
        return None  # an answer, or a cancellation
    if isinstance(exc, StoreUnavailable):
        return "unavailable"
    if isinstance(exc, DecryptionError):
        return "decrypt"
    if isinstance(exc, RoostError):
        return exc.code
    return "internal"  # an adapter bug; the caller translates it


class _Counting:
    """A reusable (stateless) context manager that counts the exception leaving it."""

    def __init__(self, errors: Counts) -> None:
        self.errors = errors

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: object, exc: BaseException | None, tb: object) -> Literal[False]:
        kind = None if exc is None else error_kind(exc)
        if kind is not None:
            self.errors[(kind,)] = self.errors.get((kind,), 0) + 1
        return False


class MeteredStore:
    """Same protocol as the store it wraps; every raised error bumps `roost_statestore_errors`."""

    def __init__(self, inner: StateStore, metrics: Metrics) -> None:
        self.inner = inner
        self._counting = _Counting(metrics.store_errors)

    async def migrate(self) -> None:
        with self._counting:
            await self.inner.migrate()

    async def ping(self) -> None:
        with self._counting:
            await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()

    async def acquire(
        self,
        key: ActorKey,
        node_id: str,
        lease_s: float,
        *,
        parent: str | None = None,
        steal_from: Collection[str] = (),
    ) -> Row:
        with self._counting:
            return await self.inner.acquire(
                key, node_id, lease_s, parent=parent, steal_from=steal_from
            )

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        with self._counting:
            return await self.inner.write(node_id, items, lease_s)

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        with self._counting:
            return await self.inner.renew(node_id, keys, lease_s)

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        with self._counting:
            await self.inner.release(node_id, keys)

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        with self._counting:
            await self.inner.delete(node_id, keys)

    async def read(self, key: ActorKey) -> Row | None:
        with self._counting:
            return await self.inner.read(key)

    async def register(self, key: ActorKey, parent: str) -> None:
        with self._counting:
            await self.inner.register(key, parent)

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        with self._counting:
            return await self.inner.scan(after, limit)

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        with self._counting:
            return await self.inner.rewrite(key, revision, old, new)
