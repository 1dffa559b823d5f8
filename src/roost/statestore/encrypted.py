"""`EncryptedStore`: a `StateStore` that seals data on the way in and opens it on the way out.

It wraps any adapter, so the adapters only ever see ciphertext, and it owns key rotation.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from roost.errors import DecryptionError, StateConflict
from roost.statestore.base import ActorKey, Row, ScannedRow, StateStore, WriteItem
from roost.statestore.crypto import Keyring, row_aad


@dataclass(frozen=True, slots=True)
class RotationReport:
    scanned: int
    rewritten: int
    already_current: int
    retried: int


class EncryptedStore:
    """Same protocol as the store it wraps, with `data` in plaintext on this side."""

    def __init__(self, inner: StateStore, keyring: Keyring) -> None:
        self.inner = inner
        self.keyring = keyring

    def _open(self, key: ActorKey, data: bytes | None) -> bytes | None:
        if data is None:
            return None
        return self.keyring.open(row_aad(key.system, key.actor), data)

    def _seal(self, key: ActorKey, data: bytes) -> bytes:
        return self.keyring.seal(row_aad(key.system, key.actor), data)

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
        row = await self.inner.acquire(key, node_id, lease_s, parent=parent, steal_from=steal_from)
        return Row(self._open(key, row.data), row.revision, row.parent, row.owner)

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        sealed = [
            WriteItem(it.key, self._seal(it.key, it.data), it.expected_revision, it.release)
            for it in items
        ]
        return await self.inner.write(node_id, sealed, lease_s)

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        return await self.inner.renew(node_id, keys, lease_s)

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        await self.inner.release(node_id, keys)

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        await self.inner.delete(node_id, keys)

    async def read(self, key: ActorKey) -> Row | None:
        row = await self.inner.read(key)
        if row is None:
            return None
        return Row(self._open(key, row.data), row.revision, row.parent, row.owner)

    async def register(self, key: ActorKey, parent: str) -> None:
        await self.inner.register(key, parent)

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        rows = await self.inner.scan(after, limit)
        return [ScannedRow(r.key, self._open(r.key, r.data) or b"", r.revision) for r in rows]

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        raise NotImplementedError("rewrite works on ciphertext: use rotate()")

    async def scan_prefix(
        self, system: str, prefix: str, after: ActorKey | None, limit: int
    ) -> tuple[list[ScannedRow], ActorKey | None]:
        """Rows of `system` whose actor starts with `prefix`, decrypted, in key order after
        `after`; and the key to continue from (None when the prefix is exhausted). Rows outside
        the prefix are never decrypted; a row no key opens is skipped, not fatal."""
        start = after or ActorKey(system, prefix)
        rows = await self.inner.scan(start, limit)
        out: list[ScannedRow] = []
        for r in rows:
            if r.key.system != system or not r.key.actor.startswith(prefix):
                return out, None
            try:
                out.append(ScannedRow(r.key, self._open(r.key, r.data) or b"", r.revision))
            except DecryptionError:
                continue
        return out, (rows[-1].key if len(rows) == limit else None)

    async def rotate(self, batch: int = 500, max_rounds: int = 10) -> RotationReport:
        """Re-seal every row not yet under the primary key, in batches, fenced on revision.

        Resumable and safe while nodes run: rows already under the primary key are skipped, and a
        row written meanwhile (its revision moved) is left for the next round, where it is found
        sealed under the primary key already (the writer used it) or retried.
        """
        scanned = rewritten = current = retried = 0
        pending: list[ActorKey] = []
        unreadable: list[ActorKey] = []
        after: ActorKey | None = None
        while rows := await self.inner.scan(after, batch):
            for r in rows:
                scanned += 1
                if self.keyring.sealed_with_primary(r.data):
                    current += 1
                    continue
                outcome = await self._reseal(r)
                if outcome == "rewritten":
                    rewritten += 1
                else:
                    (pending if outcome == "raced" else unreadable).append(r.key)
            after = rows[-1].key
        for _ in range(max_rounds):
            if not pending:
                break
            again: list[ActorKey] = []
            for k in pending:
                retried += 1
                row = await self.inner.read(k)
                if row is None or row.data is None or self.keyring.sealed_with_primary(row.data):
                    continue
                outcome = await self._reseal(ScannedRow(k, row.data, row.revision))
                if outcome == "rewritten":
                    rewritten += 1
                else:
                    (again if outcome == "raced" else unreadable).append(k)
            pending = again
        if unreadable:
            # Reported after every other row is done, so one lost key does not stall the rest.
            raise DecryptionError(
                f"rotation re-sealed every other row, but {len(unreadable)} rows open with no "
                f"known key (first: {unreadable[0]}); add the key that sealed them to "
                "ROOST_STATESTORE_OLD_KEYS and run it again"
            )
        if pending:
            # Not a decryption problem: those rows were written on every round. Retryable.
            raise StateConflict(
                f"rotation could not re-seal {len(pending)} rows that kept changing; run it again"
            )
        return RotationReport(scanned, rewritten, current, retried)

    async def _reseal(self, r: ScannedRow) -> Literal["rewritten", "raced", "unreadable"]:
        """Re-seal one row; "raced" means its revision moved on (retry), "unreadable" that no
        key in the keyring opens it."""
        try:
            plain = self.keyring.open(row_aad(r.key.system, r.key.actor), r.data)
        except DecryptionError:
            return "unreadable"
        if await self.inner.rewrite(r.key, r.revision, r.data, self._seal(r.key, plain)):
            return "rewritten"
        return "raced"
