"""Where the test databases are, whether they answer, and fresh per-test namespaces on them.

PostgreSQL tests each get their own schema and MariaDB tests their own database, both dropped
afterwards, so runs (and tests that scan every row, like rotation) never see each other's rows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncmy
import asyncpg
import pytest

from roost.statestore.mysql_url import MysqlConfig
from roost.statestore.mysql_url import parse_url as parse_mysql_url

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("ROOST_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("ROOST_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


def need(condition: bool, reason: str) -> None:
    """Skip when an outside dependency is missing, but fail under CI=true: CI provides every
    server and tool, so a missing one is a broken pipeline, not a reason to skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return parts._replace(query=urlencode(query)).geturl()


def with_database(url: str, database: str) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def unique_name(prefix: str = "rt") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def pg_admin_dsn() -> str:
    """The test URL as plain libpq/asyncpg understand it (no Roost parameters)."""
    parts = urlsplit(PG_URL)
    query = {k: v for k, v in parse_qsl(parts.query) if k in ("host", "port", "sslmode")}
    return parts._replace(query=urlencode(query)).geturl()


def mysql_config() -> MysqlConfig:
    return parse_mysql_url(MYSQL_URL)


async def mysql_admin() -> asyncmy.Connection:
    c = mysql_config()
    return await asyncmy.connect(
        host=c.host,
        port=c.port,
        unix_socket=c.unix_socket,
        user=c.user,
        password=c.password,
        autocommit=True,
        connect_timeout=3,
    )


async def _probe_pg() -> None:
    conn = await asyncpg.connect(pg_admin_dsn(), timeout=3)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def _probe_mysql() -> None:
    conn = await mysql_admin()
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT 1")
    finally:
        conn.close()


def probe(which: str) -> str | None:
    """None when the server answers, else why not. Runs on its own thread and event loop, so it
    works from synchronous fixtures whatever loop pytest-asyncio has set up."""
    coro = _probe_pg if which == "postgres" else _probe_mysql
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, coro()).result(timeout=10)
        except Exception as exc:
            url = PG_URL if which == "postgres" else MYSQL_URL
            return f"{which} at {url} is not reachable ({type(exc).__name__}: {exc})"
    return None


async def create_pg_namespace() -> tuple[str, str]:
    """A schema name and a store URL that uses it (the store creates it when migrating)."""
    schema = unique_name()
    return schema, with_query(PG_URL, schema=schema, application_name=schema)


async def drop_pg_namespace(schema: str) -> None:
    conn = await asyncpg.connect(pg_admin_dsn(), timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def create_mysql_namespace() -> tuple[str, str]:
    database = unique_name()
    conn = await mysql_admin()
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{database}`")
    finally:
        conn.close()
    return database, with_database(MYSQL_URL, database)


async def drop_mysql_namespace(database: str) -> None:
    conn = await mysql_admin()
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        conn.close()


async def kill_pg_connections(application_name: str) -> int:
    """Terminate, server side, every backend serving stores with that application name."""
    conn = await asyncpg.connect(pg_admin_dsn(), timeout=5)
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            application_name,
        )
        return len(killed)
    finally:
        await conn.close()


async def kill_mysql_connections(database: str) -> int:
    """KILL, server side, every connection using that database."""
    conn = await mysql_admin()
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = %s AND id <> CONNECTION_ID()",
                (database,),
            )
            ids = [r[0] for r in await cur.fetchall()]
            for i in ids:
                await cur.execute(f"KILL {int(i)}")
        return len(ids)
    finally:
        conn.close()
