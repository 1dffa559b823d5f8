"""`RoutedStore`: one `StateStore` made of several, chosen by each row's system.

A system may keep its actors in a database (and under a key) of its own, as a Spawn ActorSystem
names its statestore. Rows of systems without one, and Roost's own bookkeeping rows, go to the
default store. Batched calls are split per store and their results put back in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from roost.statestore.base import ActorKey, Row, ScannedRow, StateStore, WriteItem


class RoutedStore:
    def __init__(self, default: StateStore, by_system: Mapping[str, StateStore]) -> None:
        self.default = default
        self.by_system = dict(by_system)

    def store_for(self, system: str) -> StateStore:
        return self.by_system.get(system, self.default)

    def _all(self) -> list[StateStore]:
        seen: dict[int, StateStore] = {id(self.default): self.default}
        for s in self.by_system.values():
            seen.setdefault(id(s), s)
        return list(seen.values())

    def _split(self, keys: Sequence[ActorKey]) -> dict[int, tuple[StateStore, list[int]]]:
        groups: dict[int, tuple[StateStore, list[int]]] = {}
        for i, k in enumerate(keys):
            store = self.store_for(k.system)
            groups.setdefault(id(store), (store, []))[1].append(i)
        return groups

    async def migrate(self) -> None:
        for s in self._all():
            await s.migrate()

    async def ping(self) -> None:
        await asyncio.gather(*(s.ping() for s in self._all()))

    async def close(self) -> None:
        for s in self._all():
            await s.close()

    async def acquire(
        self,
        key: ActorKey,
        node_id: str,
        lease_s: float,
        *,
        parent: str | None = None,
        steal_from: Collection[str] = (),
    ) -> Row:
        return await self.store_for(key.system).acquire(
            key, node_id, lease_s, parent=parent, steal_from=steal_from
        )

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        groups = self._split([it.key for it in items])
        if len(groups) == 1:
            store, _ = next(iter(groups.values()))
            return await store.write(node_id, items, lease_s)
        out: list[int | None] = [None] * len(items)
        for store, idx in groups.values():
            revs = await store.write(node_id, [items[i] for i in idx], lease_s)
            for i, rev in zip(idx, revs, strict=True):
                out[i] = rev
        return out

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        lost: set[ActorKey] = set()
        for store, idx in self._split(keys).values():
            lost |= await store.renew(node_id, [keys[i] for i in idx], lease_s)
        return lost

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        for store, idx in self._split(keys).values():
            await store.release(node_id, [keys[i] for i in idx])

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        for store, idx in self._split(keys).values():
            await store.delete(node_id, [keys[i] for i in idx])

    async def read(self, key: ActorKey) -> Row | None:
        return await self.store_for(key.system).read(key)

    async def register(self, key: ActorKey, parent: str) -> None:
        await self.store_for(key.system).register(key, parent)

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        """The default store's rows only (rotation runs per database, with its own URL)."""
        return await self.default.scan(after, limit)

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        return await self.store_for(key.system).rewrite(key, revision, old, new)

    async def scan_prefix(
        self, system: str, prefix: str, after: ActorKey | None, limit: int
    ) -> Any:
        """Roost's bookkeeping rows live in the default store (see `EncryptedStore`)."""
        return await self.store_for(system).scan_prefix(  # type: ignore[attr-defined]
            system, prefix, after, limit
        )
