"""Statestore throughput: rows/s of a batched flush (10k rows in one `write`) and of single
compare-and-set writes (one row per `write`, one after another), on each store.

`run()` returns the numbers, `render()` their section of bench/RESULTS.md (`python -m bench
--only stores`). Each figure is the median of 3 runs. PostgreSQL and MariaDB are the local
servers the tests use (override with ROOST_BENCH_PG_URL / ROOST_BENCH_MYSQL_URL); each run
gets its own schema or database, dropped afterwards. A server that does not answer is
reported, not benchmarked.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncmy
import asyncpg

from roost.statestore import ActorKey, MemoryStore, StateStore, WriteItem
from roost.statestore.mysql import MysqlStore
from roost.statestore.mysql_url import parse_url as parse_mysql_url
from roost.statestore.postgres import PostgresStore
from roost.statestore.sqlite import SqliteStore

FLUSH_ROWS = 10_000
SINGLE_WRITES = 500
RUNS = 3
STATE = os.urandom(200)  # about the size of a sealed small JSON state
LEASE_S = 300.0
NODE = "bench-node"

PG_URL = os.environ.get("ROOST_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("ROOST_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


@asynccontextmanager
async def memory_store() -> AsyncIterator[StateStore]:
    yield MemoryStore()


@asynccontextmanager
async def sqlite_store() -> AsyncIterator[StateStore]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(str(Path(tmp) / "bench.db"))
        try:
            yield store
        finally:
            await store.close()


@asynccontextmanager
async def postgres_store() -> AsyncIterator[StateStore]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(PG_URL)
    admin_dsn = parts._replace(query="").geturl()
    url = parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), "schema": schema}))
    store = PostgresStore.from_url(url.geturl())
    try:
        yield store
    finally:
        await store.close()
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@asynccontextmanager
async def mariadb_store() -> AsyncIterator[StateStore]:
    database = f"bench_{uuid.uuid4().hex[:10]}"
    c = parse_mysql_url(MYSQL_URL)
    admin = await asyncmy.connect(
        host=c.host,
        port=c.port,
        unix_socket=c.unix_socket,
        user=c.user,
        password=c.password,
        autocommit=True,
        connect_timeout=3,
    )
    try:
        async with admin.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{database}`")
        store = MysqlStore.from_url(urlsplit(MYSQL_URL)._replace(path=f"/{database}").geturl())
        try:
            yield store
        finally:
            await store.close()
            async with admin.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        admin.close()


STORES: dict[str, Callable[[], Any]] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
    "postgres": postgres_store,
    "mariadb": mariadb_store,
}


async def _acquire_all(store: StateStore, keys: list[ActorKey]) -> None:
    queue = list(reversed(keys))

    async def worker() -> None:
        while queue:
            await store.acquire(queue.pop(), NODE, LEASE_S)

    await asyncio.gather(*(worker() for _ in range(8)))


async def measure(store: StateStore) -> dict[str, float]:
    """Median seconds of a 10k-row flush and of `SINGLE_WRITES` single writes, as rates."""
    await store.migrate()
    flush_keys = [ActorKey("bench", f"flush-{i:05}") for i in range(FLUSH_ROWS)]
    single_keys = [ActorKey("bench", f"single-{i:04}") for i in range(SINGLE_WRITES)]
    await _acquire_all(store, flush_keys + single_keys)
    flush_s: list[float] = []
    single_s: list[float] = []
    for revision in range(RUNS):
        items = [WriteItem(k, STATE, revision) for k in flush_keys]
        started = time.perf_counter()
        result = await store.write(NODE, items, LEASE_S)
        flush_s.append(time.perf_counter() - started)
        if result != [revision + 1] * FLUSH_ROWS:
            raise RuntimeError("a benchmark flush lost a compare-and-set")
        started = time.perf_counter()
        for k in single_keys:
            if await store.write(NODE, [WriteItem(k, STATE, revision)], LEASE_S) != [revision + 1]:
                raise RuntimeError("a benchmark write lost a compare-and-set")
        single_s.append(time.perf_counter() - started)
    flush = statistics.median(flush_s)
    single = statistics.median(single_s)
    return {
        "flush_10k_s": round(flush, 4),
        "flush_rows_per_s": round(FLUSH_ROWS / flush),
        "single_cas_per_s": round(SINGLE_WRITES / single),
        "single_cas_ms": round(single / SINGLE_WRITES * 1000, 3),
    }


async def run_async() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, opener in STORES.items():
        try:
            async with opener() as store:
                results[name] = await measure(store)
        except Exception as exc:  # StoreUnavailable, or the admin connection's driver error
            results[name] = {"unavailable": f"{type(exc).__name__}: {exc}"}
    return results


def run() -> dict[str, dict[str, Any]]:
    """Benchmark every store; `{store: {metric: value}}` or `{store: {"unavailable": why}}`."""
    return asyncio.run(run_async())


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'store':<10} {'flush 10k (s)':>14} {'flush rows/s':>13} {'single CAS/s':>13} "
        f"{'single CAS (ms)':>16}"
    ]
    for name, r in results.items():
        if "unavailable" in r:
            lines.append(f"{name:<10} unavailable: {r['unavailable']}")
            continue
        lines.append(
            f"{name:<10} {r['flush_10k_s']:>14.3f} {r['flush_rows_per_s']:>13,} "
            f"{r['single_cas_per_s']:>13,} {r['single_cas_ms']:>16.3f}"
        )
    return "\n".join(lines)


def render(results: dict[str, dict[str, Any]]) -> str:
    """The statestore section of RESULTS.md: the table and why the numbers look as they do."""
    rows = []
    for name, r in results.items():
        if "unavailable" in r:
            rows.append(f"| {name} | unavailable: {r['unavailable']} | | | |")
            continue
        rows.append(
            f"| {name} | {r['flush_10k_s']:.3f} | {r['flush_rows_per_s']:,} "
            f"| {r['single_cas_per_s']:,} | {r['single_cas_ms']:.3f} |"
        )
    pg = results.get("postgres", {})
    flush = f"{pg['flush_10k_s']:.2f} s" if "flush_10k_s" in pg else "not measured"
    return f"""## Statestores (issue 3)

Per store, through the adapter (no encryption: AES-GCM of 10k small states adds about 10 ms and
is the same for every store). **flush 10k**: one `write()` of {FLUSH_ROWS:,} fenced items
(200-byte states), every row already owned by the writer, as a node's shutdown/handoff flush
does. **single CAS**: {SINGLE_WRITES} one-item `write()` calls in sequence (a
`durability = "sync"` turn each). Median of {RUNS} runs. PostgreSQL and MariaDB are the local
servers over TCP 127.0.0.1 with their Debian defaults.

| store | flush 10k (s) | flush rows/s | single CAS/s | single CAS (ms) |
|---|--:|--:|--:|--:|
{chr(10).join(rows)}

Target from issue 3: a flush of 10k dirty actors to local PostgreSQL in under 2 s: {flush}.

- PostgreSQL's flush is one statement (`UPDATE ... FROM unnest(...)`) whatever the batch size;
  its single write is one round trip plus a WAL flush at commit (`synchronous_commit = on`).
- MariaDB's flush is one transaction (`BEGIN`, `SELECT ... FOR UPDATE` per 1,000 keys, one
  multi-row `INSERT ... ON DUPLICATE KEY UPDATE` per ~5 MiB, `COMMIT`: 13 round trips for 10k
  rows), because MariaDB has no `UPDATE ... RETURNING`; a single write pays four round trips.
- SQLite runs in-process with `synchronous=NORMAL` in WAL mode (no fsync per commit), so its
  single writes are the cheapest of the durable stores.
"""


if __name__ == "__main__":
    print(table(run()))
