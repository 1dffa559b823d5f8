"""SQLite adapter (aiosqlite): the embedded default.

One connection in WAL mode with ``synchronous=NORMAL``: a committed write survives a crash of the
process (kill -9) because it is in the WAL; only a power loss can take the last commits. Several
processes may share the file: SQLite's own locking plus the compare-and-set keep them honest.
Transactions are serialised by an asyncio lock, since one connection carries one transaction.
Lease expiry uses this machine's clock (the file is local, so there is only one clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from roost.errors import LeaseHeld, StoreUnavailable
from roost.statestore import keys as K
from roost.statestore.base import ActorKey, Row, ScannedRow, WriteItem

# Each entry: (version, statements). Applied in order inside one IMMEDIATE transaction, so two
# processes starting at once cannot both apply one.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE IF NOT EXISTS roost_actors (
                system TEXT NOT NULL,
                actor TEXT NOT NULL,
                revision INTEGER NOT NULL DEFAULT 0,
                data BLOB,
                owner TEXT,
                lease_expires REAL,
                parent TEXT,
                updated_at REAL,
                PRIMARY KEY (system, actor)
            ) WITHOUT ROWID""",
            "CREATE INDEX IF NOT EXISTS roost_actors_owner ON roost_actors (owner)",
        ],
    ),
]

_CHUNK = 400  # keys per IN (...) list: 2 parameters each, far below SQLite's variable limit


def sqlite_path(url: str) -> str:
    """`sqlite:///rel/path`, `sqlite:////abs/path` or `sqlite://:memory:` to a filename."""
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest.split("?", 1)[0]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise ValueError(f"sqlite URL must look like sqlite:///path/to/file.db, got {url!r}")
    return rest[1:] or "roost.db"


class SqliteStore:
    """A `StateStore` in one SQLite file; `busy_timeout` is how long a write waits for another
    process's lock before it fails with `StoreUnavailable`."""

    def __init__(
        self, path: str, clock: Callable[[], float] = time.time, *, busy_timeout: float = 10.0
    ) -> None:
        self._path = path
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        # One connection carries one transaction at a time, and a read must not see another
        # task's uncommitted writes on that same connection: everything goes through this lock.
        self._tx = asyncio.Lock()

    async def _connection(self) -> aiosqlite.Connection:
        """The connection, opened on first use; call with `_tx` held."""
        if self._conn is None:
            conn: aiosqlite.Connection | None = None
            try:
                if self._path != ":memory:":
                    Path(self._path).parent.mkdir(parents=True, exist_ok=True)
                conn = await aiosqlite.connect(
                    self._path, isolation_level=None, timeout=self._busy_timeout
                )
                await conn.execute("PRAGMA journal_mode=WAL")
                await conn.execute("PRAGMA synchronous=NORMAL")
                await conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            except (sqlite3.Error, OSError) as exc:
                if conn is not None:
                    with contextlib.suppress(sqlite3.Error, ValueError):
                        await conn.close()
                raise StoreUnavailable(f"cannot open SQLite database {self._path}: {exc}") from exc
            self._conn = conn
        return self._conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._tx:
            conn = await self._connection()
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite {self._path}: {exc}") from exc
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise StoreUnavailable(f"SQLite commit failed: {exc}") from exc

    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        async with self._tx:
            conn = await self._connection()
            try:
                return list(await conn.execute_fetchall(sql, args))
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite {self._path}: {exc}") from exc

    async def migrate(self) -> None:
        try:
            async with self._transaction() as c:
                await c.execute(
                    "CREATE TABLE IF NOT EXISTS roost_migrations "
                    "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
                )
                done = {
                    r[0] for r in await c.execute_fetchall("SELECT version FROM roost_migrations")
                }
                for version, statements in MIGRATIONS:
                    if version in done:
                        continue
                    for s in statements:
                        await c.execute(s)
                    await c.execute(
                        "INSERT INTO roost_migrations VALUES (?, ?)", (version, time.time())
                    )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite migration failed: {exc}") from exc

    async def ping(self) -> None:
        await self._fetch("SELECT 1")

    async def close(self) -> None:
        if self._conn is not None:
            async with self._tx:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._conn.close()
                self._conn = None

    async def acquire(
        self,
        key: ActorKey,
        node_id: str,
        lease_s: float,
        *,
        parent: str | None = None,
        steal_from: Collection[str] = (),
    ) -> Row:
        K.check_key(key)
        K.check_node(node_id)
        K.check_parent(parent)
        now = self._clock()
        steal = sorted(set(steal_from))
        # One statement, atomic on its own: create the row, or take it over when it is free,
        # ours, expired or held by a failed member; nothing comes back when it is held.
        sql = (
            "INSERT INTO roost_actors (system, actor, revision, owner, lease_expires, parent, "
            "updated_at) VALUES (?, ?, 0, ?, ?, ?, ?) ON CONFLICT (system, actor) DO UPDATE SET "
            "owner = excluded.owner, lease_expires = excluded.lease_expires, "
            "parent = COALESCE(roost_actors.parent, excluded.parent) "
            "WHERE roost_actors.owner IS NULL OR roost_actors.owner = excluded.owner "
            "OR roost_actors.lease_expires IS NULL OR roost_actors.lease_expires <= ?"
            + (f" OR roost_actors.owner IN ({','.join('?' * len(steal))})" if steal else "")
            + " RETURNING data, revision, parent"
        )
        args = (*key, node_id, now + lease_s, parent, now, now, *steal)
        try:
            async with self._tx:
                conn = await self._connection()
                rows = list(await conn.execute_fetchall(sql, args))
                if rows:
                    data, revision, stored_parent = rows[0]
                    return Row(data, revision, stored_parent, node_id)
                held = list(
                    await conn.execute_fetchall(
                        "SELECT owner, lease_expires FROM roost_actors "
                        "WHERE system = ? AND actor = ?",
                        key,
                    )
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite acquire failed: {exc}") from exc
        owner, expires = held[0] if held else ("", now)
        raise LeaseHeld(
            f"{key} is held by {owner}", holder=owner or "", expires_in=(expires or now) - now
        )

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        if not items:
            return []
        K.check_node(node_id)
        K.check_keys([it.key for it in items])
        now = self._clock()
        try:
            async with self._transaction() as c:
                current: dict[ActorKey, tuple[int, str | None]] = {}
                keys = [it.key for it in items]
                for i in range(0, len(keys), _CHUNK):
                    chunk = keys[i : i + _CHUNK]
                    where = " OR ".join(["(system = ? AND actor = ?)"] * len(chunk))
                    args = [x for k in chunk for x in k]
                    for s, a, rev, owner in await c.execute_fetchall(
                        f"SELECT system, actor, revision, owner FROM roost_actors WHERE {where}",
                        args,
                    ):
                        current[ActorKey(s, a)] = (rev, owner)
                out: list[int | None] = []
                updates: list[tuple[Any, ...]] = []
                for it in items:
                    cur = current.get(it.key)
                    if cur is None or cur[0] != it.expected_revision or cur[1] != node_id:
                        out.append(None)
                        continue
                    new_rev = it.expected_revision + 1
                    current[it.key] = (new_rev, None if it.release else node_id)
                    owner = None if it.release else node_id
                    expires = None if it.release else now + lease_s
                    updates.append((it.data, new_rev, owner, expires, now, *it.key))
                    out.append(new_rev)
                if updates:
                    await c.executemany(
                        "UPDATE roost_actors SET data = ?, revision = ?, owner = ?, "
                        "lease_expires = ?, updated_at = ? WHERE system = ? AND actor = ?",
                        updates,
                    )
                return out
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite write failed: {exc}") from exc

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        if not keys:
            return set()
        K.check_node(node_id)
        K.check_keys(keys)
        now = self._clock()
        held: set[ActorKey] = set()
        try:
            async with self._transaction() as c:
                for i in range(0, len(keys), _CHUNK):
                    chunk = keys[i : i + _CHUNK]
                    where = " OR ".join(["(system = ? AND actor = ?)"] * len(chunk))
                    args = [x for k in chunk for x in k]
                    for s, a in await c.execute_fetchall(
                        # `+owner`: look rows up by primary key, not by the owner index (which
                        # would scan every row this node holds once per chunk)
                        f"UPDATE roost_actors SET lease_expires = ? WHERE +owner = ? AND ({where}) "
                        "RETURNING system, actor",
                        [now + lease_s, node_id, *args],
                    ):
                        held.add(ActorKey(s, a))
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite renew failed: {exc}") from exc
        return {k for k in keys if k not in held}

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        if not keys:
            return
        K.check_node(node_id)
        K.check_keys(keys)
        try:
            async with self._transaction() as c:
                await c.executemany(
                    "UPDATE roost_actors SET owner = NULL, lease_expires = NULL "
                    "WHERE system = ? AND actor = ? AND owner = ?",
                    [(*k, node_id) for k in keys],
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite release failed: {exc}") from exc

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        if not keys:
            return
        K.check_node(node_id)
        K.check_keys(keys)
        try:
            async with self._transaction() as c:
                await c.executemany(
                    "DELETE FROM roost_actors WHERE system = ? AND actor = ? AND owner = ?",
                    [(*k, node_id) for k in keys],
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite delete failed: {exc}") from exc

    async def read(self, key: ActorKey) -> Row | None:
        K.check_key(key)
        rows = await self._fetch(
            "SELECT data, revision, parent, owner, lease_expires FROM roost_actors "
            "WHERE system = ? AND actor = ?",
            key,
        )
        if not rows:
            return None
        data, revision, parent, owner, expires = rows[0]
        live_owner = owner if owner is not None and (expires or 0.0) > self._clock() else None
        return Row(data, revision, parent, live_owner)

    async def register(self, key: ActorKey, parent: str) -> None:
        K.check_key(key)
        K.check_parent(parent)
        try:
            async with self._transaction() as c:
                await c.execute(
                    "INSERT INTO roost_actors (system, actor, revision, parent, updated_at) "
                    "VALUES (?, ?, 0, ?, ?) ON CONFLICT (system, actor) DO UPDATE SET "
                    "parent = COALESCE(roost_actors.parent, excluded.parent)",
                    (*key, parent, self._clock()),
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite register failed: {exc}") from exc

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        if after is None:
            rows = await self._fetch(
                "SELECT system, actor, data, revision FROM roost_actors WHERE data IS NOT NULL "
                "ORDER BY system, actor LIMIT ?",
                (limit,),
            )
        else:
            rows = await self._fetch(
                "SELECT system, actor, data, revision FROM roost_actors WHERE data IS NOT NULL "
                "AND (system > ? OR (system = ? AND actor > ?)) ORDER BY system, actor LIMIT ?",
                (after.system, after.system, after.actor, limit),
            )
        return [ScannedRow(ActorKey(s, a), d, r) for s, a, d, r in rows]

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        K.check_key(key)
        try:
            async with self._transaction() as c:
                cur = await c.execute(
                    "UPDATE roost_actors SET data = ? WHERE system = ? AND actor = ? "
                    "AND revision = ? AND data = ?",
                    (new, *key, revision, old),
                )
                return bool(cur.rowcount == 1)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite rewrite failed: {exc}") from exc
