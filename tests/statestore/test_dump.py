"""A dump of the database after a run holds no plaintext state: `pg_dump`, `mariadb-dump`, and
the SQLite file itself. Each test first proves its detector finds plaintext in that same dump
format, so it cannot pass just because the dump came out empty or encoded."""

from __future__ import annotations

import asyncio
import os
import shutil

from roost.statestore import EncryptedStore, Keyring, WriteItem
from tests.statestore import servers
from tests.statestore.harness import LONG, Harness

CANARY = b'{"total": 12345, "marker": "plaintext-canary"}'


def shows_plaintext(dump: bytes, plaintext: bytes = CANARY) -> bool:
    """Whether `plaintext` appears in the dump as text or in the hex forms dumps use."""
    forms = [b"plaintext-canary", plaintext.hex().encode(), plaintext.hex().upper().encode()]
    return any(f in dump for f in forms)


async def run(*argv: str, env: dict[str, str] | None = None) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"{argv[0]} failed: {err.decode(errors='replace')}"
    return out


async def dump(h: Harness) -> bytes:
    if h.kind == "sqlite":
        assert h.path is not None
        wal = h.path.with_name(h.path.name + "-wal")
        return h.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert h.namespace is not None
    if h.kind == "postgres":
        servers.need(shutil.which("pg_dump") is not None, "pg_dump is not installed")
        return await run("pg_dump", f"--dbname={servers.pg_admin_dsn()}", f"--schema={h.namespace}")
    servers.need(shutil.which("mariadb-dump") is not None, "mariadb-dump is not installed")
    c = servers.mysql_config()
    where = (
        [f"--socket={c.unix_socket}"] if c.unix_socket else [f"--host={c.host}", f"--port={c.port}"]
    )
    return await run(
        "mariadb-dump", *where, f"--user={c.user}", h.namespace, env={"MYSQL_PWD": c.password}
    )


async def test_dump_holds_no_plaintext_state(disk_h: Harness) -> None:
    h = disk_h
    enc = EncryptedStore(h.store, Keyring(os.urandom(32)))
    sealed = [h.key(f"incrementor-{i}") for i in range(3)]
    for k in sealed:
        await enc.acquire(k, "n1", LONG)
    assert await enc.write("n1", [WriteItem(k, CANARY, 0) for k in sealed], LONG) == [1] * 3

    encrypted_dump = await dump(h)
    assert h.system.encode() in encrypted_dump  # the rows are in the dump...
    assert not shows_plaintext(encrypted_dump)  # ...but not their state

    control = h.key("control-written-without-encryption")
    await h.store.acquire(control, "n1", LONG)
    await h.store.write("n1", [WriteItem(control, CANARY, 0)], LONG)
    assert shows_plaintext(await dump(h))
