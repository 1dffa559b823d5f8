"""MySQL/MariaDB schema and its versioned migrations.

MySQL commits DDL implicitly, so a migration cannot be one transaction: instead nodes starting
together serialise on a named lock (`GET_LOCK`, scoped to this database), every statement is
idempotent (`IF NOT EXISTS`), and a version is recorded only after all its statements ran, so a
migration cut short is simply run again.
"""

from __future__ import annotations

from typing import Any

# Keys and names are VARBINARY (UTF-8 bytes), not VARCHAR: every utf8mb4 text collation is
# either case-insensitive or PAD SPACE (`utf8mb4_bin` treats 'a' and 'a ' as one key), while
# byte comparison is exact and orders keys by code point like the other stores. The sizes match
# keys.py; 255 + 1024 bytes stays under InnoDB's 3072-byte index key limit.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE IF NOT EXISTS roost_actors (
                system VARBINARY(255) NOT NULL,
                actor VARBINARY(1024) NOT NULL,
                revision BIGINT NOT NULL DEFAULT 0,
                data LONGBLOB NULL,
                owner VARBINARY(255) NULL,
                lease_expires DATETIME(6) NULL,
                parent VARBINARY(1024) NULL,
                updated_at DATETIME(6) NOT NULL,
                PRIMARY KEY (system, actor)
            ) ENGINE=InnoDB ROW_FORMAT=DYNAMIC""",
        ],
    ),
]
LATEST = MIGRATIONS[-1][0]
LOCK_WAIT_S = 60


async def _fetch(conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall())


async def current_version(conn: Any) -> int:
    """The newest applied version, 0 for an empty database; needs no privilege beyond SELECT."""
    exists = await _fetch(
        conn,
        "SELECT 1 FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = 'roost_migrations'",
    )
    if not exists:
        return 0
    rows = await _fetch(conn, "SELECT COALESCE(MAX(version), 0) FROM roost_migrations")
    return int(rows[0][0])


async def migrate(conn: Any) -> None:
    """Bring the connection's database up to the newest version; raises `TimeoutError` when
    another node holds the migration lock for longer than `LOCK_WAIT_S`."""
    if await current_version(conn) >= LATEST:
        return
    # GET_LOCK names are server-wide: include the database so two Roost databases on one
    # server do not wait for each other.
    lock = "CONCAT('roost-migrate:', LEFT(SHA1(DATABASE()), 32))"
    got = await _fetch(conn, f"SELECT GET_LOCK({lock}, %s)", (LOCK_WAIT_S,))
    if not got or got[0][0] != 1:
        raise TimeoutError("another node has held the migration lock for too long")
    try:
        await _fetch(
            conn,
            "CREATE TABLE IF NOT EXISTS roost_migrations (version INT NOT NULL PRIMARY KEY, "
            "applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB",
        )
        done = {r[0] for r in await _fetch(conn, "SELECT version FROM roost_migrations")}
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                await _fetch(conn, statement)
            await _fetch(
                conn,
                "INSERT INTO roost_migrations (version, applied_at) VALUES (%s, UTC_TIMESTAMP(6))",
                (version,),
            )
    finally:
        await _fetch(conn, f"SELECT RELEASE_LOCK({lock})")
