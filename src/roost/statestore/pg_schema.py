"""PostgreSQL schema and its versioned migrations.

Migrations run in one transaction under a transaction-scoped advisory lock, so nodes starting
together apply each version exactly once, and a failed migration leaves nothing half-applied
(PostgreSQL DDL is transactional).
"""

from __future__ import annotations

import asyncpg

# Any constant works; it only has to be the same in every Roost process ("roost" in ASCII).
ADVISORY_LOCK_ID = 0x726F6F7374

# Each entry: (version, statements), applied in order, each version once.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            # COLLATE "C" orders keys by code point, as every other store does, whatever the
            # database's locale; the scan that key rotation pages through relies on that order.
            # fillfactor leaves room on each page so the frequent state updates stay HOT
            # (no index writes); no index on owner, since no query looks rows up by it.
            """CREATE TABLE IF NOT EXISTS roost_actors (
                system text COLLATE "C" NOT NULL,
                actor text COLLATE "C" NOT NULL,
                revision bigint NOT NULL DEFAULT 0,
                data bytea,
                owner text,
                lease_expires timestamptz,
                parent text,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (system, actor)
            ) WITH (fillfactor = 85)""",
            # Ciphertext does not compress: store it out of line without trying.
            "ALTER TABLE roost_actors ALTER COLUMN data SET STORAGE EXTERNAL",
        ],
    ),
]


LATEST = MIGRATIONS[-1][0]


async def current_version(conn: asyncpg.Connection) -> int:
    """The newest applied version, 0 for an empty database; needs no privilege beyond SELECT."""
    if not await conn.fetchval("SELECT to_regclass('roost_migrations') IS NOT NULL"):
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM roost_migrations"))


async def migrate(conn: asyncpg.Connection, schema: str | None) -> None:
    """Bring the schema on `conn`'s search path up to the newest version.

    An up-to-date schema is recognised without DDL or locks, so nodes may run as a user that
    can only read and write rows once an operator has migrated ahead of time.
    """
    if await current_version(conn) >= LATEST:
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_ID)
        if schema:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS roost_migrations ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in await conn.fetch("SELECT version FROM roost_migrations")}
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                await conn.execute(statement)
            await conn.execute("INSERT INTO roost_migrations (version) VALUES ($1)", version)
