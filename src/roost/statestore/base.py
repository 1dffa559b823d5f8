"""The `StateStore` protocol every adapter implements, and the value objects it trades in.

A store keeps one row per actor, keyed by the `(system, actor)` strings. A row has:

- ``data``: the actor's state as opaque bytes (the adapters never look inside; the
  `EncryptedStore` wrapper seals it before it reaches them), or ``None`` before the first write;
- ``revision``: 0 before the first write, +1 on every write; each write is a compare-and-set on it;
- ``owner`` and a lease expiry: which node may write the row, and until when. The expiry is judged
  by the store's own clock (the database's ``now()``), never by comparing two nodes' clocks;
- ``parent``: the template of an unnamed instance, so any node can find it.

Fencing: a write succeeds only when ``revision = expected AND owner = writer``. A node whose lease
was taken over finds every later write refused (`StateConflict`) and must drop its activation.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable


class ActorKey(NamedTuple):
    """The identity of a stored actor: its system and its name, both plain strings."""

    system: str
    actor: str

    def __str__(self) -> str:
        return f"{self.system}/{self.actor}"


@dataclass(frozen=True, slots=True)
class Row:
    """A stored actor as read at activation (or by `read`)."""

    data: bytes | None
    revision: int
    parent: str | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class WriteItem:
    """One fenced write: succeeds only if the row is at `expected_revision` and owned by the writer.

    With `release=True` the writer's lease is given up in the same statement (handoff, shutdown).
    """

    key: ActorKey
    data: bytes
    expected_revision: int
    release: bool = False


@dataclass(frozen=True, slots=True)
class ScannedRow:
    """A row with state, as the key-rotation scan returns it."""

    key: ActorKey
    data: bytes
    revision: int


@runtime_checkable
class StateStore(Protocol):
    """Persistent actor rows with fenced writes and ownership leases.

    All methods may raise `StoreUnavailable` when the backing database cannot be reached; a call
    that raised wrote nothing it reported. Implementations are safe to call concurrently from many
    tasks of one event loop, and from several processes sharing one database.
    """

    async def migrate(self) -> None:
        """Create or upgrade the schema; safe when several nodes start at once."""

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store answers."""

    async def close(self) -> None:
        """Release connections. The store is not used afterwards."""

    async def acquire(
        self,
        key: ActorKey,
        node_id: str,
        lease_s: float,
        *,
        parent: str | None = None,
        steal_from: Collection[str] = (),
    ) -> Row:
        """Take the ownership lease of `key` for `node_id` and return the row.

        Succeeds when the row does not exist yet (it is created at revision 0), when no node holds
        it, when `node_id` already holds it, when the lease has expired, or when the holder is in
        `steal_from` (members known to have failed). Otherwise raises `LeaseHeld` naming the
        holder. `parent`, when given, is recorded on a row that has none.
        """

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        """Fenced writes, all in one round trip where the database allows.

        Returns, per item in order, the new revision, or ``None`` when the compare-and-set failed
        (another revision, or `node_id` no longer owns the row): that item changed nothing. A
        successful write also extends the writer's lease to now + `lease_s`, unless it releases it.
        """

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        """Extend the leases `node_id` holds on `keys`; return the keys it no longer holds."""

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        """Give up `node_id`'s leases on `keys` (rows held by others are left alone)."""

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        """Delete the rows of `keys` that `node_id` holds the lease on (others are left alone).

        Used for Roost's own bookkeeping rows (scheduled invocations), never for actor state.
        """

    async def read(self, key: ActorKey) -> Row | None:
        """The row as it is, without taking a lease; ``None`` if there is none."""

    async def register(self, key: ActorKey, parent: str) -> None:
        """Record an unnamed instance of template `parent` (creates the row if needed)."""

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        """Rows that hold data, in key order, strictly after `after`; for key rotation."""

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        """Replace the data of a row still at `revision` holding `old`, keeping its revision.

        Used by key rotation: the plaintext is unchanged, so the owner's view stays valid.
        """
