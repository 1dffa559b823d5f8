"""Operator commands on a statestore: `roost statestore migrate` and `roost statestore rotate`."""

from __future__ import annotations

from roost.statestore.crypto import Keyring
from roost.statestore.encrypted import RotationReport
from roost.statestore.url import open_backend, open_store


async def migrate(url: str) -> None:
    """Create or upgrade the schema ahead of time (nodes also do it on start)."""
    store = open_backend(url)
    try:
        await store.migrate()
    finally:
        await store.close()


async def rotate(url: str, keyring: Keyring, batch: int = 500) -> RotationReport:
    """Re-seal every row under the keyring's primary key."""
    store = open_store(url, keyring)
    try:
        await store.migrate()
        return await store.rotate(batch=batch)
    finally:
        await store.close()
