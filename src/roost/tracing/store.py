"""`TracedStore`: a span per statestore operation made inside a traced call.

Operations outside any trace (lease renewals, write-behind snapshots, scheduler polls) make no
span: they would start a new trace every tick and bury the calls an operator is looking for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from roost.errors import LeaseHeld
from roost.statestore.base import ActorKey, Row, ScannedRow, StateStore, WriteItem
from roost.tracing.setup import Tracing
from roost.tracing.spans import failed

_DB = {"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql", "memory": "memory"}


def db_system(store: Any) -> str:
    """The `db.system.name` of the backend under the wrappers (`.inner` chains), or `other`."""
    for _ in range(6):
        name = type(store).__name__.lower()
        for part, system in _DB.items():
            if part in name:
                return system
        store = getattr(store, "inner", None)
        if store is None:
            break
    return "other_sql"


class TracedStore:
    """Same protocol as the store it wraps (the `MeteredStore`), with spans."""

    def __init__(self, inner: StateStore, tracing: Tracing) -> None:
        assert tracing.tracer is not None
        self.inner = inner
        self._tracer = tracing.tracer
        self._db = db_system(inner)

    @contextlib.contextmanager
    def _op(self, op: str, key: ActorKey | None = None, **attrs: Any) -> Iterator[Span | None]:
        if not trace.get_current_span().is_recording():
            yield None
            return
        a: dict[str, Any] = {"db.system.name": self._db, "db.operation.name": op}
        if key is not None:
            a["roost.system"], a["roost.actor"] = key.system, key.actor
        a.update({f"roost.store.{k}": v for k, v in attrs.items()})
        with self._tracer.start_as_current_span(
            f"roost.store {op}", kind=SpanKind.CLIENT, attributes=a,
            record_exception=False, set_status_on_exception=False,
        ) as s:  # fmt: skip
            try:
                yield s
            except LeaseHeld as held:  # an answer: another node holds it
                s.set_attribute("roost.store.lease_holder", held.holder)
                raise
            except BaseException as exc:
                failed(s, exc)
                raise

    async def migrate(self) -> None:
        await self.inner.migrate()

    async def ping(self) -> None:
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
        with self._op("acquire", key, lease_s=lease_s) as s:
            row = await self.inner.acquire(
                key, node_id, lease_s, parent=parent, steal_from=steal_from
            )
            if s is not None:
                s.set_attribute("roost.store.revision", row.revision)
            return row

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        key = items[0].key if len(items) == 1 else None
        with self._op("write", key, items=len(items), fenced=True) as s:
            out = await self.inner.write(node_id, items, lease_s)
            if s is not None:
                s.set_attribute("roost.store.conflicts", sum(1 for r in out if r is None))
            return out

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        with self._op("renew", keys=len(keys)):
            return await self.inner.renew(node_id, keys, lease_s)

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        with self._op("release", keys=len(keys)):
            await self.inner.release(node_id, keys)

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        with self._op("delete", keys=len(keys)):
            await self.inner.delete(node_id, keys)

    async def read(self, key: ActorKey) -> Row | None:
        with self._op("read", key):
            return await self.inner.read(key)

    async def register(self, key: ActorKey, parent: str) -> None:
        with self._op("register", key):
            await self.inner.register(key, parent)

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        with self._op("scan", limit=limit):
            return await self.inner.scan(after, limit)

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        with self._op("rewrite", key):
            return await self.inner.rewrite(key, revision, old, new)
