"""MySQL/MariaDB adapter (asyncmy; aiomysql breaks on bytes parameters with PyMySQL 1.2).

MariaDB has no ``UPDATE ... RETURNING``, so a batch of fenced writes is one transaction: lock
every row (``SELECT ... FOR UPDATE``, one statement per 1,000 keys), decide each compare-and-set
here, then write all winners with one multi-row ``INSERT ... ON DUPLICATE KEY UPDATE`` per ~5 MiB
of state: about 13 round trips for 10k rows (larger statements measured no faster). An acquire
is one atomic upsert whose assignments take the lease only when it is free, then a read of the
row. Lease expiry is always the server's ``UTC_TIMESTAMP(6)``. Driver errors become
`StoreUnavailable` in `_call`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

import asyncmy
from asyncmy.errors import MySQLError

from roost.errors import LeaseHeld, StoreUnavailable
from roost.statestore import keys as K
from roost.statestore.base import ActorKey, Row, ScannedRow, WriteItem
from roost.statestore.mysql_schema import migrate
from roost.statestore.mysql_url import MysqlConfig, parse_url

T = TypeVar("T")

_DRIVER_ERRORS = (MySQLError, OSError, TimeoutError, EOFError)
_RETRY_CODES = (1205, 1213)  # lock wait timeout, deadlock: the transaction was rolled back
_RETRIES = 3
_KEYS_PER_STATEMENT = 1000
_NOW = "UTC_TIMESTAMP(6)"

_ACQUIRE = f"""
INSERT INTO roost_actors (system, actor, revision, owner, lease_expires, parent, updated_at)
VALUES (%s, %s, 0, %s, {_NOW} + INTERVAL %s MICROSECOND, %s, {_NOW})
ON DUPLICATE KEY UPDATE
  owner = IF(owner IS NULL OR owner = VALUES(owner) OR lease_expires IS NULL
             OR lease_expires <= {_NOW} {{steal}}, VALUES(owner), owner),
  lease_expires = IF(owner = VALUES(owner), VALUES(lease_expires), lease_expires),
  parent = IF(owner = VALUES(owner), COALESCE(parent, VALUES(parent)), parent)
"""
# Assignments run left to right and see the columns already assigned: after the first one,
# `owner = VALUES(owner)` holds exactly when the lease was free, so the other two follow it.

_ROW = f"""
SELECT data, revision, parent, owner, TIMESTAMPDIFF(MICROSECOND, {_NOW}, lease_expires)
FROM roost_actors WHERE system = %s AND actor = %s
"""

_UPSERT = f"""
INSERT INTO roost_actors (system, actor, data, revision, owner, updated_at) VALUES {{rows}}
ON DUPLICATE KEY UPDATE data = VALUES(data), revision = VALUES(revision), owner = VALUES(owner),
  lease_expires = IF(VALUES(owner) IS NULL, NULL, {_NOW} + INTERVAL %s MICROSECOND),
  updated_at = VALUES(updated_at)
"""
_UPSERT_ROW = f"(%s, %s, %s, %s, %s, {_NOW})"


def _micros(seconds: float) -> int:
    return max(0, round(seconds * 1_000_000))


def _key_filter(keys: Sequence[ActorKey]) -> tuple[str, list[str]]:
    """`(system = ? AND actor IN (...)) OR ...`: one primary-key range per system."""
    by_system: dict[str, dict[str, None]] = {}
    for k in keys:
        by_system.setdefault(k.system, {})[k.actor] = None
    parts: list[str] = []
    args: list[str] = []
    for system, actors in by_system.items():
        parts.append(f"(system = %s AND actor IN ({', '.join(['%s'] * len(actors))}))")
        args += [system, *actors]
    return " OR ".join(parts), args


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class MysqlStore:
    """A `StateStore` on MySQL 8 or MariaDB 10.6+; the pool opens on first use."""

    def __init__(self, config: MysqlConfig) -> None:
        self.config = config
        self._pool: Any = None
        self._opening = asyncio.Lock()
        self._closed = False
        self._statement_budget: int | None = None  # bytes per upsert, from max_allowed_packet

    @classmethod
    def from_url(cls, url: str) -> MysqlStore:
        return cls(parse_url(url))

    async def _get_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._closed:
                raise StoreUnavailable("the MySQL store is closed")
            if self._pool is None:
                c = self.config
                pool = await asyncmy.create_pool(
                    minsize=0,
                    maxsize=c.pool_size,
                    host=c.host,
                    port=c.port,
                    unix_socket=c.unix_socket,
                    user=c.user,
                    password=c.password,
                    database=c.database,
                    charset="utf8mb4",
                    autocommit=True,
                    connect_timeout=max(1, round(c.connect_timeout)),
                    read_timeout=c.command_timeout,
                    # READ COMMITTED: locking reads of missing keys take no gap locks, so
                    # concurrent flushes and acquires do not deadlock on neighbouring keys.
                    init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                )
                self._pool = pool
            return self._pool

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        code = exc.args[0] if isinstance(exc, MySQLError) and exc.args else None
        hint = ""
        if code == 1146:
            hint = " (schema missing: run `roost statestore migrate`)"
        elif code in (1044, 1045, 1142, 1143):
            hint = " (see docs/statestores.md for the grants Roost needs)"
        detail = str(exc) or type(exc).__name__
        return StoreUnavailable(f"MySQL {self.config.where}: {what} failed: {detail}{hint}")

    async def _call(self, what: str, op: Callable[[Any], Awaitable[T]], *, tx: bool = False) -> T:
        """Run `op` on a pooled connection; the one place asyncmy errors are translated."""
        for attempt in range(_RETRIES):
            try:
                async with asyncio.timeout(self.config.command_timeout):
                    pool = await self._get_pool()
                    async with pool.acquire() as conn:
                        if not tx:
                            return await op(conn)
                        await conn.begin()
                        try:
                            result = await op(conn)
                            await conn.commit()
                        except BaseException:
                            # The pool closes a connection returned mid-transaction, and the
                            # server rolls back what it held; rolling back here just frees the
                            # locks sooner.
                            with contextlib.suppress(*_DRIVER_ERRORS):
                                await conn.rollback()
                            raise
                        return result
            except MySQLError as exc:
                code = exc.args[0] if exc.args else None
                if code not in _RETRY_CODES or attempt + 1 == _RETRIES:
                    raise self._unavailable(what, exc) from exc
            except _DRIVER_ERRORS as exc:
                raise self._unavailable(what, exc) from exc
            except RuntimeError as exc:
                # asyncmy's pool says "Cannot acquire connection after closing pool" this way.
                if not self._closed:
                    raise
                raise StoreUnavailable(f"MySQL {self.config.where}: the store is closed") from exc
        raise AssertionError("unreachable")

    @staticmethod
    async def _fetch(conn: Any, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with conn.cursor() as cur:
            await cur.execute(sql, args)
            return list(await cur.fetchall())

    @staticmethod
    async def _execute(conn: Any, sql: str, args: Sequence[Any] = ()) -> int:
        async with conn.cursor() as cur:
            await cur.execute(sql, args)
            return int(cur.rowcount)

    async def migrate(self) -> None:
        await self._call("migration", migrate)

    async def ping(self) -> None:
        async def op(conn: Any) -> None:
            await self._fetch(conn, "SELECT 1")

        await self._call("ping", op)

    async def close(self) -> None:
        async with self._opening:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            try:
                await asyncio.wait_for(pool.wait_closed(), self.config.connect_timeout)
            except _DRIVER_ERRORS:
                pool.terminate()
            except asyncio.CancelledError:
                pool.terminate()
                raise

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
        steal = list(dict.fromkeys(steal_from))
        sql = _ACQUIRE.format(
            steal=f"OR owner IN ({', '.join(['%s'] * len(steal))})" if steal else ""
        )
        args = [*key, node_id, _micros(lease_s), parent, *steal]

        async def op(conn: Any) -> Row:
            owner: str | None = None
            left_us = 0
            # A holder that lets go between our upsert and our look at the row is retried, so
            # the LeaseHeld we raise names a node that held the lease when we looked.
            for _ in range(_RETRIES):
                await self._execute(conn, sql, args)
                data, revision, parent_now, raw_owner, left = (await self._fetch(conn, _ROW, key))[
                    0
                ]
                owner, left_us = _text(raw_owner), int(left or 0)
                if owner == node_id:
                    return Row(data, int(revision), _text(parent_now), node_id)
                if owner is not None and left_us > 0 and owner not in steal:
                    break
            raise LeaseHeld(
                f"{key} is held by {owner}", holder=owner or "", expires_in=left_us / 1e6
            )

        return await self._call("acquire", op)

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        if not items:
            return []
        K.check_node(node_id)
        keys = list(dict.fromkeys(it.key for it in items))
        K.check_keys(keys)

        async def op(conn: Any) -> list[int | None]:
            current: dict[ActorKey, tuple[int, str | None]] = {}
            for chunk in K.chunks(keys, _KEYS_PER_STATEMENT):
                where, args = _key_filter(chunk)
                for s, a, rev, owner in await self._fetch(
                    conn,
                    f"SELECT system, actor, revision, owner FROM roost_actors "
                    f"WHERE {where} FOR UPDATE",
                    args,
                ):
                    current[ActorKey(s.decode(), a.decode())] = (int(rev), _text(owner))
            out: list[int | None] = []
            final: dict[ActorKey, tuple[bytes, int, str | None]] = {}
            for it in items:  # one by one, so a key repeated in the batch behaves as in memory
                cur = current.get(it.key)
                if cur is None or cur[0] != it.expected_revision or cur[1] != node_id:
                    out.append(None)
                    continue
                owner = None if it.release else node_id
                current[it.key] = (cur[0] + 1, owner)
                final[it.key] = (it.data, cur[0] + 1, owner)
                out.append(cur[0] + 1)
            await self._upsert(conn, final, lease_s)
            return out

        return await self._call("write", op, tx=True)

    async def _budget(self, conn: Any) -> int:
        if self._statement_budget is None:
            (packet,) = (await self._fetch(conn, "SELECT @@max_allowed_packet"))[0]
            # Escaping can at worst double binary data: a third of the packet limit is safe.
            self._statement_budget = max(64 * 1024, int(packet) // 3)
        return self._statement_budget

    async def _upsert(
        self, conn: Any, rows: dict[ActorKey, tuple[bytes, int, str | None]], lease_s: float
    ) -> None:
        budget = await self._budget(conn)
        batch: list[Any] = []
        size = 0
        for key, (data, revision, owner) in rows.items():
            batch += [key.system, key.actor, data, revision, owner]
            size += len(data) + len(key.system) + len(key.actor) + 64
            if size >= budget:
                await self._upsert_batch(conn, batch, lease_s)
                batch, size = [], 0
        if batch:
            await self._upsert_batch(conn, batch, lease_s)

    async def _upsert_batch(self, conn: Any, batch: list[Any], lease_s: float) -> None:
        sql = _UPSERT.format(rows=", ".join([_UPSERT_ROW] * (len(batch) // 5)))
        await self._execute(conn, sql, [*batch, _micros(lease_s)])

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        if not keys:
            return set()
        K.check_node(node_id)
        K.check_keys(keys)

        async def op(conn: Any) -> set[ActorKey]:
            held: set[ActorKey] = set()
            for chunk in K.chunks(keys, _KEYS_PER_STATEMENT):
                where, args = _key_filter(chunk)
                await self._execute(
                    conn,
                    f"UPDATE roost_actors SET lease_expires = {_NOW} + INTERVAL %s MICROSECOND "
                    f"WHERE owner = %s AND ({where})",
                    [_micros(lease_s), node_id, *args],
                )
                # Rows we still own after the update carry the new lease (or a newer one from
                # an acquire that ran in between); anything else is lost.
                for s, a in await self._fetch(
                    conn,
                    f"SELECT system, actor FROM roost_actors WHERE owner = %s AND ({where})",
                    [node_id, *args],
                ):
                    held.add(ActorKey(s.decode(), a.decode()))
            return {k for k in keys if k not in held}

        return await self._call("renew", op)

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        if not keys:
            return
        K.check_node(node_id)
        K.check_keys(keys)

        async def op(conn: Any) -> None:
            for chunk in K.chunks(keys, _KEYS_PER_STATEMENT):
                where, args = _key_filter(chunk)
                await self._execute(
                    conn,
                    "UPDATE roost_actors SET owner = NULL, lease_expires = NULL "
                    f"WHERE owner = %s AND ({where})",
                    [node_id, *args],
                )

        await self._call("release", op)

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        if not keys:
            return
        K.check_node(node_id)
        K.check_keys(keys)

        async def op(conn: Any) -> None:
            for chunk in K.chunks(keys, _KEYS_PER_STATEMENT):
                where, args = _key_filter(chunk)
                await self._execute(
                    conn,
                    f"DELETE FROM roost_actors WHERE owner = %s AND ({where})",
                    [node_id, *args],
                )

        await self._call("delete", op)

    async def read(self, key: ActorKey) -> Row | None:
        K.check_key(key)

        async def op(conn: Any) -> Row | None:
            rows = await self._fetch(conn, _ROW, key)
            if not rows:
                return None
            data, revision, parent, owner, left = rows[0]
            live = _text(owner) if owner is not None and (left or 0) > 0 else None
            return Row(data, int(revision), _text(parent), live)

        return await self._call("read", op)

    async def register(self, key: ActorKey, parent: str) -> None:
        K.check_key(key)
        K.check_parent(parent)

        async def op(conn: Any) -> None:
            await self._execute(
                conn,
                "INSERT INTO roost_actors (system, actor, revision, parent, updated_at) "
                f"VALUES (%s, %s, 0, %s, {_NOW}) "
                "ON DUPLICATE KEY UPDATE parent = COALESCE(parent, VALUES(parent))",
                [*key, parent],
            )

        await self._call("register", op)

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        async def op(conn: Any) -> list[ScannedRow]:
            base = "SELECT system, actor, data, revision FROM roost_actors WHERE data IS NOT NULL"
            args: list[Any] = [limit]
            sql = f"{base} ORDER BY system, actor LIMIT %s"
            if after is not None:
                sql = (
                    f"{base} AND (system > %s OR (system = %s AND actor > %s)) "
                    "ORDER BY system, actor LIMIT %s"
                )
                args = [after.system, after.system, after.actor, limit]
            rows = await self._fetch(conn, sql, args)
            return [ScannedRow(ActorKey(s.decode(), a.decode()), d, int(r)) for s, a, d, r in rows]

        return await self._call("scan", op)

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        K.check_key(key)

        async def op(conn: Any) -> bool:
            changed = await self._execute(
                conn,
                "UPDATE roost_actors SET data = %s "
                "WHERE system = %s AND actor = %s AND revision = %s AND data = %s",
                [new, *key, revision, old],
            )
            return changed == 1

        return await self._call("rewrite", op)
