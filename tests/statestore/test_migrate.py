"""Schema migrations on the network databases: safe when nodes start together, skipped without
DDL once current (so nodes can run with row privileges only), and a clear error before them."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg
import pytest

from roost.errors import StoreUnavailable
from roost.statestore import ActorKey, StateStore, WriteItem
from roost.statestore.mysql import MysqlStore
from roost.statestore.postgres import PostgresStore
from tests.statestore import servers
from tests.statestore.harness import LONG, Harness


def open_url(kind: str, url: str) -> StateStore:
    return PostgresStore.from_url(url) if kind == "postgres" else MysqlStore.from_url(url)


async def migrations_applied(h: Harness) -> list[int]:
    if h.kind == "postgres":
        conn = await asyncpg.connect(servers.pg_admin_dsn())
        try:
            rows = await conn.fetch(f'SELECT version FROM "{h.namespace}".roost_migrations')
        finally:
            await conn.close()
        return sorted(r[0] for r in rows)
    conn = await servers.mysql_admin()
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"SELECT version FROM `{h.namespace}`.roost_migrations")
            return sorted(r[0] for r in await cur.fetchall())
    finally:
        conn.close()


async def fresh_harness(kind: str) -> Harness:
    """A namespace nobody has migrated yet (the usual harness migrates on start)."""
    if kind == "postgres":
        namespace, url = await servers.create_pg_namespace()
    else:
        namespace, url = await servers.create_mysql_namespace()

    async def opener() -> StateStore:
        return open_url(kind, url)

    return Harness(kind, servers.unique_name("sys"), opener, url=url, namespace=namespace)


async def test_nodes_starting_together_migrate_once(sql_h: Harness) -> None:
    h = await fresh_harness(sql_h.kind)
    try:
        assert h.url is not None
        stores = [open_url(h.kind, h.url) for _ in range(6)]
        h.stores += stores
        await asyncio.gather(*(s.migrate() for s in stores))
        assert await migrations_applied(h) == [1]
        k = ActorKey("s", "a")
        await stores[0].acquire(k, "n1", LONG)
        assert await stores[5].write("n1", [WriteItem(k, b"x", 0)], LONG) == [1]
        await stores[3].migrate()
        assert await migrations_applied(h) == [1]
    finally:
        await h.aclose()


async def test_unmigrated_database_says_what_to_do(sql_h: Harness) -> None:
    h = await fresh_harness(sql_h.kind)
    try:
        assert h.url is not None
        store = open_url(h.kind, h.url)
        h.stores.append(store)
        with pytest.raises(StoreUnavailable, match="roost statestore migrate"):
            await store.read(ActorKey("s", "a"))
    finally:
        await h.aclose()


async def test_node_runs_with_row_privileges_only(sql_h: Harness) -> None:
    """The grants docs/statestores.md lists for nodes, once an operator migrated ahead of time."""
    h = sql_h
    user = servers.unique_name("roost_node")
    assert h.url is not None and h.namespace is not None
    parts = urlsplit(h.url)
    if h.kind == "postgres":
        admin = await asyncpg.connect(servers.pg_admin_dsn())
        try:
            ns = h.namespace
            await admin.execute(f"CREATE ROLE {user} LOGIN PASSWORD 'pw'")
            await admin.execute(f"GRANT USAGE ON SCHEMA {ns} TO {user}")
            await admin.execute(f"GRANT SELECT, INSERT, UPDATE ON {ns}.roost_actors TO {user}")
            await admin.execute(f"GRANT SELECT ON {ns}.roost_migrations TO {user}")
        finally:
            await admin.close()
    else:
        admin = await servers.mysql_admin()
        try:
            async with admin.cursor() as cur:
                db = h.namespace
                await cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
                await cur.execute(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 'pw'")
                for host in ("%", "localhost"):
                    await cur.execute(
                        f"GRANT SELECT, INSERT, UPDATE ON `{db}`.roost_actors TO '{user}'@'{host}'"
                    )
                    await cur.execute(
                        f"GRANT SELECT ON `{db}`.roost_migrations TO '{user}'@'{host}'"
                    )
        finally:
            admin.close()
    netloc = f"{user}:pw@{parts.netloc.rsplit('@', 1)[-1]}"
    store = open_url(h.kind, parts._replace(netloc=netloc).geturl())
    h.stores.append(store)
    try:
        await store.migrate()  # already current: no DDL, so no CREATE privilege needed
        k = h.key("least-privilege")
        await store.acquire(k, "n1", LONG, parent="t")
        assert await store.write("n1", [WriteItem(k, b"x", 0)], LONG) == [1]
        assert await store.renew("n1", [k], LONG) == set()
        await store.register(h.key("instance"), "t")
        await store.release("n1", [k])
        assert [r.key for r in await store.scan(None, 10)] == [k]
        assert await store.rewrite(k, 1, b"x", b"y")
    finally:
        await store.close()
        h.stores.remove(store)
        await drop_user(h.kind, user)


async def drop_user(kind: str, user: str) -> None:
    if kind == "postgres":
        admin = await asyncpg.connect(servers.pg_admin_dsn())
        try:
            await admin.execute(f"DROP OWNED BY {user}")
            await admin.execute(f"DROP ROLE {user}")
        finally:
            await admin.close()
        return
    admin = await servers.mysql_admin()
    try:
        async with admin.cursor() as cur:
            for host in ("%", "localhost"):
                await cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
    finally:
        admin.close()
