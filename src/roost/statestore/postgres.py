"""PostgreSQL adapter (asyncpg).

Every operation is one statement where it can be: a batch of fenced writes is one
``UPDATE ... FROM unnest(...) RETURNING``, an acquire is one ``INSERT ... ON CONFLICT DO UPDATE
... WHERE <lease is free> RETURNING``. Lease expiry is always the server's `clock_timestamp()`,
never this process's clock. Driver errors become `StoreUnavailable` in `_call`, the one edge
where this module meets asyncpg; the pool replaces dead connections on the next call.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import asyncpg

from roost.errors import ConfigError, LeaseHeld, StoreUnavailable
from roost.statestore import keys as K
from roost.statestore.base import ActorKey, Row, ScannedRow, WriteItem
from roost.statestore.params import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE,
    QueryParams,
)
from roost.statestore.pg_schema import migrate
from roost.statestore.url import redact

T = TypeVar("T")

_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
_RETRIES = 3  # deadlocks and serialization failures roll back whole; trying again is safe
_RENEW_CHUNK = 5000  # keys per statement: bounds how long one renew holds its row locks
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_LEASE = "clock_timestamp() + make_interval(secs => {})"

_ACQUIRE = f"""
INSERT INTO roost_actors AS r (system, actor, owner, lease_expires, parent)
VALUES ($1, $2, $3, {_LEASE.format("$4::float8")}, $5)
ON CONFLICT (system, actor) DO UPDATE
SET owner = EXCLUDED.owner, lease_expires = EXCLUDED.lease_expires,
    parent = COALESCE(r.parent, EXCLUDED.parent)
WHERE r.owner IS NULL OR r.owner = EXCLUDED.owner OR r.lease_expires IS NULL
   OR r.lease_expires <= clock_timestamp() OR r.owner = ANY($6::text[])
RETURNING r.data, r.revision, r.parent
"""

_HOLDER = """
SELECT owner, EXTRACT(EPOCH FROM lease_expires - clock_timestamp())::float8 AS expires_in
FROM roost_actors WHERE system = $1 AND actor = $2
"""

_WRITE = f"""
UPDATE roost_actors AS r
SET data = i.data, revision = r.revision + 1,
    owner = CASE WHEN i.release THEN NULL ELSE r.owner END,
    lease_expires = CASE WHEN i.release THEN NULL ELSE {_LEASE.format("$7::float8")} END,
    updated_at = now()
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[], $5::bool[])
     AS i(system, actor, data, expected, release)
WHERE r.system = i.system AND r.actor = i.actor AND r.revision = i.expected AND r.owner = $6
RETURNING r.system, r.actor, r.revision
"""

_RENEW = f"""
UPDATE roost_actors AS r SET lease_expires = {_LEASE.format("$4::float8")}
FROM unnest($1::text[], $2::text[]) AS k(system, actor)
WHERE r.system = k.system AND r.actor = k.actor AND r.owner = $3
RETURNING r.system, r.actor
"""

_RELEASE = """
UPDATE roost_actors AS r SET owner = NULL, lease_expires = NULL
FROM unnest($1::text[], $2::text[]) AS k(system, actor)
WHERE r.system = k.system AND r.actor = k.actor AND r.owner = $3
"""

_DELETE = """
DELETE FROM roost_actors AS r
USING unnest($1::text[], $2::text[]) AS k(system, actor)
WHERE r.system = k.system AND r.actor = k.actor AND r.owner = $3
"""

_READ = """
SELECT data, revision, parent,
       CASE WHEN lease_expires > clock_timestamp() THEN owner END AS owner
FROM roost_actors WHERE system = $1 AND actor = $2
"""

_REGISTER = """
INSERT INTO roost_actors AS r (system, actor, parent) VALUES ($1, $2, $3)
ON CONFLICT (system, actor) DO UPDATE SET parent = EXCLUDED.parent WHERE r.parent IS NULL
"""

_SCAN_FIRST = """
SELECT system, actor, data, revision FROM roost_actors WHERE data IS NOT NULL
ORDER BY system, actor LIMIT $1
"""

_SCAN_AFTER = """
SELECT system, actor, data, revision FROM roost_actors
WHERE data IS NOT NULL AND (system, actor) > ($1, $2)
ORDER BY system, actor LIMIT $3
"""

_REWRITE = """
UPDATE roost_actors SET data = $5
WHERE system = $1 AND actor = $2 AND revision = $3 AND data = $4
"""


@dataclass(frozen=True, slots=True)
class PostgresConfig:
    """What `PostgresStore` needs: asyncpg's DSN (without our parameters) and pool settings."""

    dsn: str = field(repr=False)
    pool_size: int = DEFAULT_POOL_SIZE
    schema: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT
    application_name: str = "roost"  # how the connections show in pg_stat_activity

    @property
    def where(self) -> str:
        """The server and database, password hidden, for error messages."""
        return redact(self.dsn.split("?", 1)[0])


def parse_url(url: str) -> PostgresConfig:
    """`postgresql://user:pass@host:5432/db?pool_size=10&schema=roost` to a config.

    An empty host, or `?host=/var/run/postgresql`, reaches the server through its Unix socket;
    asyncpg reads `host`, `port`, `sslmode` and the like itself, so those pass through.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise ConfigError(f"not a PostgreSQL URL: {redact(url)!r}")
    if not parts.path.strip("/"):
        raise ConfigError(f"PostgreSQL URL {redact(url)!r} names no database (…:5432/DBNAME)")
    q = QueryParams(url)
    pool_size = q.integer("pool_size", DEFAULT_POOL_SIZE, minimum=1, maximum=1000)
    schema = q.text("schema") or None
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(f"?schema={schema!r} must be a lower-case SQL identifier")
    connect_timeout = q.number("connect_timeout", DEFAULT_CONNECT_TIMEOUT, minimum=0.1, maximum=600)
    command_timeout = q.number(
        "command_timeout", DEFAULT_COMMAND_TIMEOUT, minimum=0.1, maximum=3600
    )
    application_name = q.text("application_name") or "roost"
    passthrough = q.rest()
    # Built by hand: urlunsplit drops the empty host of `postgresql:///db` (the socket form).
    query = urlencode(passthrough)
    dsn = f"postgresql://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    return PostgresConfig(
        dsn, pool_size, schema, connect_timeout, command_timeout, application_name
    )


class PostgresStore:
    """A `StateStore` on PostgreSQL; the pool opens on first use and reconnects by itself."""

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        return cls(parse_url(url))

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._closed:
                raise StoreUnavailable("the PostgreSQL store is closed")
            if self._pool is None:
                settings = {"application_name": self.config.application_name}
                if self.config.schema:
                    settings["search_path"] = self.config.schema
                # min_size=0: creating the pool never connects, so a node can start (and report
                # not ready) while the database is still down; connections open on demand.
                self._pool = await asyncpg.create_pool(
                    self.config.dsn,
                    min_size=0,
                    max_size=self.config.pool_size,
                    timeout=self.config.connect_timeout,
                    command_timeout=self.config.command_timeout,
                    server_settings=settings,
                )
            return self._pool

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        hint = ""
        if isinstance(exc, asyncpg.UndefinedTableError):
            hint = " (schema missing: run `roost statestore migrate`)"
        elif isinstance(exc, asyncpg.InsufficientPrivilegeError):
            hint = " (see docs/statestores.md for the grants Roost needs)"
        detail = str(exc) or type(exc).__name__
        return StoreUnavailable(f"PostgreSQL {self.config.where}: {what} failed: {detail}{hint}")

    async def _call(
        self, what: str, op: Callable[[asyncpg.Connection], Awaitable[T]], *, tx: bool = False
    ) -> T:
        """Run `op` on a pooled connection; the one place asyncpg errors are translated."""
        for attempt in range(_RETRIES):
            try:
                pool = await self._get_pool()
                async with pool.acquire(timeout=self.config.command_timeout) as conn:
                    if not tx:
                        return await op(conn)
                    async with conn.transaction():
                        return await op(conn)
            except asyncpg.TransactionRollbackError as exc:
                if attempt + 1 == _RETRIES:
                    raise self._unavailable(what, exc) from exc
            except _DRIVER_ERRORS as exc:
                raise self._unavailable(what, exc) from exc
        raise AssertionError("unreachable")

    async def migrate(self) -> None:
        async def op(conn: asyncpg.Connection) -> None:
            await migrate(conn, self.config.schema)

        await self._call("migration", op)

    async def ping(self) -> None:
        async def op(conn: asyncpg.Connection) -> None:
            await conn.fetchval("SELECT 1")

        await self._call("ping", op)

    async def close(self) -> None:
        async with self._opening:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.config.connect_timeout)
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
        steal = list(steal_from)

        async def op(conn: asyncpg.Connection) -> Row:
            holder: Any = None
            # A holder that lets go between our insert and our look at it is retried, so the
            # LeaseHeld we raise names a node that held the lease when we looked.
            for _ in range(_RETRIES):
                got = await conn.fetchrow(_ACQUIRE, *key, node_id, lease_s, parent, steal)
                if got is not None:
                    return Row(got["data"], got["revision"], got["parent"], node_id)
                holder = await conn.fetchrow(_HOLDER, *key)
                if holder is not None and _blocks(
                    holder["owner"], holder["expires_in"], node_id, steal
                ):
                    break
            owner = holder["owner"] if holder is not None else None
            expires_in = holder["expires_in"] if holder is not None else 0.0
            raise LeaseHeld(
                f"{key} is held by {owner}", holder=owner or "", expires_in=expires_in or 0.0
            )

        return await self._call("acquire", op)

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        if not items:
            return []
        K.check_node(node_id)
        K.check_keys([it.key for it in items])
        batches = K.rounds(items)

        async def op(conn: asyncpg.Connection) -> list[int | None]:
            out: list[int | None] = [None] * len(items)
            for batch in batches:
                rows = await conn.fetch(
                    _WRITE,
                    [it.key.system for _, it in batch],
                    [it.key.actor for _, it in batch],
                    [it.data for _, it in batch],
                    [it.expected_revision for _, it in batch],
                    [it.release for _, it in batch],
                    node_id,
                    lease_s,
                )
                done = {(r["system"], r["actor"]): r["revision"] for r in rows}
                for i, it in batch:
                    out[i] = done.get(it.key)
            return out

        # One batch is one statement, atomic by itself; repeated keys need several, made atomic
        # by a transaction so a failure half-way never leaves half a flush behind.
        return await self._call("write", op, tx=len(batches) > 1)

    async def renew(self, node_id: str, keys: Sequence[ActorKey], lease_s: float) -> set[ActorKey]:
        if not keys:
            return set()
        K.check_node(node_id)
        K.check_keys(keys)

        async def op(conn: asyncpg.Connection) -> set[ActorKey]:
            held: set[ActorKey] = set()
            for chunk in K.chunks(keys, _RENEW_CHUNK):
                rows = await conn.fetch(
                    _RENEW, [k.system for k in chunk], [k.actor for k in chunk], node_id, lease_s
                )
                held.update(ActorKey(r["system"], r["actor"]) for r in rows)
            return {k for k in keys if k not in held}

        return await self._call("renew", op)

    async def release(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        if not keys:
            return
        K.check_node(node_id)
        K.check_keys(keys)

        async def op(conn: asyncpg.Connection) -> None:
            for chunk in K.chunks(keys, _RENEW_CHUNK):
                await conn.execute(
                    _RELEASE, [k.system for k in chunk], [k.actor for k in chunk], node_id
                )

        await self._call("release", op)

    async def delete(self, node_id: str, keys: Sequence[ActorKey]) -> None:
        if not keys:
            return
        K.check_node(node_id)
        K.check_keys(keys)

        async def op(conn: asyncpg.Connection) -> None:
            for chunk in K.chunks(keys, _RENEW_CHUNK):
                await conn.execute(
                    _DELETE, [k.system for k in chunk], [k.actor for k in chunk], node_id
                )

        await self._call("delete", op)

    async def read(self, key: ActorKey) -> Row | None:
        K.check_key(key)

        async def op(conn: asyncpg.Connection) -> Row | None:
            r = await conn.fetchrow(_READ, *key)
            return None if r is None else Row(r["data"], r["revision"], r["parent"], r["owner"])

        return await self._call("read", op)

    async def register(self, key: ActorKey, parent: str) -> None:
        K.check_key(key)
        K.check_parent(parent)

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(_REGISTER, *key, parent)

        await self._call("register", op)

    async def scan(self, after: ActorKey | None, limit: int) -> list[ScannedRow]:
        async def op(conn: asyncpg.Connection) -> list[ScannedRow]:
            if after is None:
                rows = await conn.fetch(_SCAN_FIRST, limit)
            else:
                rows = await conn.fetch(_SCAN_AFTER, after.system, after.actor, limit)
            return [ScannedRow(ActorKey(r[0], r[1]), r[2], r[3]) for r in rows]

        return await self._call("scan", op)

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        K.check_key(key)

        async def op(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(_REWRITE, *key, revision, old, new)
            return bool(status == "UPDATE 1")

        return await self._call("rewrite", op)


def _blocks(
    owner: str | None, expires_in: float | None, node_id: str, steal: Collection[str]
) -> bool:
    """Whether a row's current holder keeps `node_id` out: the memory store's rule."""
    return owner is not None and owner != node_id and (expires_in or 0.0) > 0 and owner not in steal
