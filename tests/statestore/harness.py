"""One harness per store kind, so every conformance test is written once for all four.

A `Harness` hands a test its store, a unique system name, more stores on the same data (other
"nodes"), a way to wait for a lease to expire (a fake clock where the store takes one, polling
the database's own clock where it does not) and a store whose backend the test can take away.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from roost.statestore import ActorKey, MemoryStore, StateStore
from roost.statestore.mysql import MysqlStore
from roost.statestore.postgres import PostgresStore
from roost.statestore.sqlite import SqliteStore
from tests.statestore import servers
from tests.statestore.proxy import TcpProxy

LONG = 30.0  # a lease no test outlives
SHORT = 0.3  # a lease a test waits out
EXPIRY_DEADLINE = 10.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Outage(Protocol):
    """Takes a store's backend away and brings it back."""

    async def begin(self, midway_bytes: int | None = None) -> None: ...

    async def end(self) -> None: ...


@dataclass
class MemoryOutage:
    store: MemoryStore

    async def begin(self, midway_bytes: int | None = None) -> None:
        self.store.down = True

    async def end(self) -> None:
        self.store.down = False


@dataclass
class SqliteOutage:
    """Another process holding the write lock: what makes an SQLite store unavailable."""

    path: Path
    conn: sqlite3.Connection | None = None

    async def begin(self, midway_bytes: int | None = None) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    async def end(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


@dataclass
class ProxyOutage:
    """The database's TCP connection cut (optionally in the middle of the next request)."""

    proxy: TcpProxy

    async def begin(self, midway_bytes: int | None = None) -> None:
        if midway_bytes is None:
            self.proxy.cut()
        else:
            self.proxy.cut_after(midway_bytes)

    async def end(self) -> None:
        await self.proxy.restore()


@dataclass
class Harness:
    kind: str
    system: str
    open_store: Callable[[], Awaitable[StateStore]]
    clock: FakeClock | None = None
    url: str | None = None
    namespace: str | None = None
    path: Path | None = None
    stores: list[StateStore] = field(default_factory=list)
    proxies: list[TcpProxy] = field(default_factory=list)
    store: StateStore = field(init=False)

    async def start(self) -> Harness:
        self.store = await self.another()
        return self

    def key(self, actor: str) -> ActorKey:
        return ActorKey(self.system, actor)

    @property
    def real_time(self) -> bool:
        return self.clock is None

    async def another(self) -> StateStore:
        """Another connection (another node) on the same rows; the memory store is shared."""
        store = await self.open_store()
        await store.migrate()
        self.stores.append(store)
        return store

    async def expire(self, key: ActorKey, store: StateStore | None = None) -> None:
        """Return once a lease of `SHORT` seconds on `key` has run out by the store's clock."""
        if self.clock is not None:
            self.clock.advance(SHORT * 2)
            return
        store = store or self.store
        deadline = time.monotonic() + EXPIRY_DEADLINE
        while (row := await store.read(key)) is not None and row.owner is not None:
            if time.monotonic() > deadline:
                pytest.fail(f"lease on {key} still held by {row.owner} after {EXPIRY_DEADLINE}s")
            await asyncio.sleep(0.02)

    async def broken_store(self) -> tuple[StateStore, Outage]:
        """A store whose backend the test can take away, with the handle that does it."""
        if self.kind == "memory":
            assert isinstance(self.store, MemoryStore)
            return self.store, MemoryOutage(self.store)
        if self.kind == "sqlite":
            assert self.path is not None
            store = SqliteStore(str(self.path), self.clock or time.time, busy_timeout=0.2)
            self.stores.append(store)
            return store, SqliteOutage(self.path)
        assert self.url is not None
        proxy, url = await self._proxied(self.url)
        opened: StateStore = (
            PostgresStore.from_url(url) if self.kind == "postgres" else MysqlStore.from_url(url)
        )
        self.stores.append(opened)
        return opened, ProxyOutage(proxy)

    async def _proxied(self, url: str) -> tuple[TcpProxy, str]:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        socket_dir = query.pop("host", "") if self.kind == "postgres" else ""
        socket_path = query.pop("unix_socket", "") if self.kind == "mariadb" else ""
        if socket_dir.startswith("/"):
            upstream: tuple[str, int] | str = f"{socket_dir}/.s.PGSQL.{parts.port or 5432}"
        elif socket_path or not parts.hostname:
            upstream = socket_path or "/run/mysqld/mysqld.sock"
        else:
            upstream = (parts.hostname, parts.port or (5432 if self.kind == "postgres" else 3306))
        proxy = TcpProxy(upstream)
        await proxy.start()
        self.proxies.append(proxy)
        auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        query.update(connect_timeout="2", command_timeout="10")
        proxied = parts._replace(netloc=f"{auth}127.0.0.1:{proxy.port}", query=urlencode(query))
        return proxy, proxied.geturl()

    async def kill_server_side(self) -> int:
        """End this test's database sessions from the server side; how many were ended."""
        assert self.namespace is not None
        if self.kind == "postgres":
            return await servers.kill_pg_connections(self.namespace)
        return await servers.kill_mysql_connections(self.namespace)

    async def aclose(self) -> None:
        for store in self.stores:
            await store.close()
        for proxy in self.proxies:
            await proxy.close()
        if self.namespace is not None:
            if self.kind == "postgres":
                await servers.drop_pg_namespace(self.namespace)
            else:
                await servers.drop_mysql_namespace(self.namespace)


async def make_harness(kind: str, tmp_path: Path) -> Harness:
    system = servers.unique_name("sys")
    if kind == "memory":
        clock = FakeClock()
        shared = MemoryStore(clock)

        async def memory() -> StateStore:
            return shared

        return await Harness(kind, system, memory, clock=clock).start()
    if kind == "sqlite":
        clock = FakeClock()
        path = tmp_path / "roost.db"

        async def sqlite() -> StateStore:
            return SqliteStore(str(path), clock)

        return await Harness(kind, system, sqlite, clock=clock, path=path).start()
    if kind == "postgres":
        namespace, url = await servers.create_pg_namespace()
    else:
        namespace, url = await servers.create_mysql_namespace()

    async def sql() -> StateStore:
        return PostgresStore.from_url(url) if kind == "postgres" else MysqlStore.from_url(url)

    harness = Harness(kind, system, sql, url=url, namespace=namespace)
    try:
        return await harness.start()
    except BaseException:
        await harness.aclose()
        raise
