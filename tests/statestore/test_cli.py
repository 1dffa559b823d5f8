"""`roost statestore migrate` and `roost statestore rotate` run as commands on a SQLite file:
exit codes, messages, and rotation re-sealing rows written under an old key."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from roost.errors import DecryptionError
from roost.statestore import ActorKey, EncryptedStore, Keyring, WriteItem, generate_key
from roost.statestore.sqlite import SqliteStore

ROOST = [sys.executable, "-m", "roost"]
SYS = "spawn-system"
ROWS = {f"actor-{i}": f'{{"total": {i}}}'.encode() for i in range(3)}


def roost(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with no ROOST_* variable from this process, only those given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROOST_")}
    return subprocess.run(
        [*ROOST, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def seed(db: Path, key: str) -> None:
    """Write `ROWS` sealed under `key`, leases released, as a node would leave them."""

    async def go() -> None:
        store = EncryptedStore(SqliteStore(str(db)), Keyring.from_text(key))
        try:
            await store.migrate()
            items = []
            for actor, data in ROWS.items():
                k = ActorKey(SYS, actor)
                await store.acquire(k, "n1", 30.0)
                items.append(WriteItem(k, data, 0, release=True))
            assert await store.write("n1", items, 30.0) == [1] * len(ROWS)
        finally:
            await store.close()

    asyncio.run(go())


def read_all(db: Path, keyring: Keyring) -> dict[str, bytes | None]:
    async def go() -> dict[str, bytes | None]:
        store = EncryptedStore(SqliteStore(str(db)), keyring)
        try:
            out: dict[str, bytes | None] = {}
            for actor in ROWS:
                row = await store.read(ActorKey(SYS, actor))
                out[actor] = None if row is None else row.data
            return out
        finally:
            await store.close()

    return asyncio.run(go())


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "roost.db"
    for _ in range(2):
        out = roost("statestore", "migrate", "--statestore", f"sqlite:///{db}")
        assert out.returncode == 0, out.stderr
        assert "schema is up to date" in out.stderr
    assert {"roost_actors", "roost_migrations"} <= tables(db)


def test_migrate_reads_the_url_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    out = roost("statestore", "migrate", ROOST_STATESTORE_URL=f"sqlite:///{db}")
    assert out.returncode == 0, out.stderr
    assert "roost_actors" in tables(db)


@pytest.mark.parametrize("command", ["migrate", "rotate"])
def test_no_statestore_url_is_a_config_error(command: str) -> None:
    out = roost("statestore", command, ROOST_STATESTORE_KEY=generate_key())
    assert out.returncode == 2
    assert "configuration error" in out.stderr
    assert "--statestore" in out.stderr and "ROOST_STATESTORE_URL" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_statestore_url_is_a_config_error(tmp_path: Path) -> None:
    out = roost("statestore", "migrate", "--statestore", "bogus://nowhere")
    assert out.returncode == 2
    assert "unsupported statestore URL" in out.stderr and "Traceback" not in out.stderr
    out = roost("statestore", "migrate", "--statestore", "sqlite://relative.db")
    assert out.returncode == 2 and "sqlite:///path" in out.stderr


def test_unreachable_database_is_a_one_line_failure() -> None:
    url = "postgresql://roost:hunter2@127.0.0.1:1/roost"  # nothing listens on port 1
    out = roost("statestore", "migrate", "--statestore", url)
    assert out.returncode == 1
    assert "unavailable" in out.stderr and "Traceback" not in out.stderr
    assert "hunter2" not in out.stderr  # the password never reaches the terminal


def test_rotate_without_a_key_is_a_config_error(tmp_path: Path) -> None:
    db = tmp_path / "roost.db"
    a = generate_key()
    seed(db, a)
    out = roost("statestore", "rotate", "--statestore", f"sqlite:///{db}")
    assert out.returncode == 2
    assert "configuration error" in out.stderr and "ROOST_STATESTORE_KEY" in out.stderr
    assert "Traceback" not in out.stderr
    assert read_all(db, Keyring.from_text(a)) == ROWS  # nothing touched


def test_rotate_with_a_malformed_key_is_a_config_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/roost.db"
    out = roost("statestore", "rotate", "--statestore", url, ROOST_STATESTORE_KEY="not-a-key")
    assert out.returncode == 2 and "ROOST_STATESTORE_KEY" in out.stderr
    out = roost(
        "statestore", "rotate", "--statestore", url,
        ROOST_STATESTORE_KEY=generate_key(), ROOST_STATESTORE_OLD_KEYS="also-not-a-key",
    )  # fmt: skip
    assert out.returncode == 2 and "ROOST_STATESTORE_OLD_KEYS" in out.stderr


def test_rotate_reseals_rows_under_the_new_key(tmp_path: Path) -> None:
    db = tmp_path / "roost.db"
    url = f"sqlite:///{db}"
    a, b = generate_key(), generate_key()
    seed(db, a)

    out = roost(
        "statestore", "rotate", "--statestore", url, "--batch", "2",
        ROOST_STATESTORE_KEY=b, ROOST_STATESTORE_OLD_KEYS=a,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"{len(ROWS)} rows scanned, {len(ROWS)} re-sealed, 0 already" in out.stderr

    assert read_all(db, Keyring.from_text(b)) == ROWS  # B alone opens every row
    with pytest.raises(DecryptionError):
        read_all(db, Keyring.from_text(a))  # and A no longer does: they were re-sealed

    # run again: resumable and idempotent, nothing left to re-seal
    out = roost("statestore", "rotate", "--statestore", url, ROOST_STATESTORE_KEY=b)
    assert out.returncode == 0, out.stderr
    assert f"0 re-sealed, {len(ROWS)} already under the primary key" in out.stderr


def test_rotate_without_the_old_key_fails_and_says_which(tmp_path: Path) -> None:
    db = tmp_path / "roost.db"
    a = generate_key()
    seed(db, a)
    out = roost(
        "statestore", "rotate", "--statestore", f"sqlite:///{db}",
        ROOST_STATESTORE_KEY=generate_key(),
    )  # fmt: skip
    assert out.returncode == 1
    assert "state_unreadable" in out.stderr and "no known key" in out.stderr
    assert "ROOST_STATESTORE_OLD_KEYS" in out.stderr and "Traceback" not in out.stderr
    assert read_all(db, Keyring.from_text(a)) == ROWS  # rows left as they were


@pytest.mark.parametrize("batch", ["0", "-1"])
def test_rotate_refuses_a_batch_below_one(tmp_path: Path, batch: str) -> None:
    db = tmp_path / "roost.db"
    a, b = generate_key(), generate_key()
    seed(db, a)
    out = roost(
        "statestore", "rotate", "--statestore", f"sqlite:///{db}", "--batch", batch,
        ROOST_STATESTORE_KEY=b, ROOST_STATESTORE_OLD_KEYS=a,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--batch" in out.stderr and "Traceback" not in out.stderr
    assert read_all(db, Keyring.from_text(a)) == ROWS
