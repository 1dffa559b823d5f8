"""Encryption through `EncryptedStore` on every store: sealing, bad keys, moved ciphertext, and
key rotation (old keys readable, re-sealing, resuming, racing live writers)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from roost.errors import DecryptionError, StateConflict, StoreUnavailable
from roost.statestore import ActorKey, EncryptedStore, Keyring, StateStore, WriteItem
from tests.statestore.harness import LONG, Harness

K1, K2, K3 = os.urandom(32), os.urandom(32), os.urandom(32)


class Interfering:
    """Delegates to a store, but runs `hook(key)` before each call of `rewrite`."""

    def __init__(self, inner: StateStore, hook: Callable[[ActorKey], Awaitable[None]]) -> None:
        self.inner = inner
        self.hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def rewrite(self, key: ActorKey, revision: int, old: bytes, new: bytes) -> bool:
        await self.hook(key)
        return await self.inner.rewrite(key, revision, old, new)


async def seed(enc: EncryptedStore, h: Harness, n: int) -> list[ActorKey]:
    keys = [h.key(f"actor-{i:03}") for i in range(n)]
    for k in keys:
        await enc.acquire(k, "n1", LONG)
    assert await enc.write("n1", [WriteItem(k, k.actor.encode(), 0) for k in keys], LONG) == [1] * n
    return keys


async def readable_by(h: Harness, keyring: Keyring, keys: list[ActorKey]) -> bool:
    enc = EncryptedStore(h.store, keyring)
    for k in keys:
        row = await enc.read(k)
        assert row is not None and row.data == k.actor.encode() and row.revision == 1
    return True


async def test_adapter_sees_only_ciphertext(h: Harness) -> None:
    enc = EncryptedStore(h.store, Keyring(K1))
    k = h.key("secret")
    plaintext = b'{"total": 12345, "marker": "plaintext-canary"}'
    assert (await enc.acquire(k, "n1", LONG)).data is None
    await enc.write("n1", [WriteItem(k, plaintext, 0)], LONG)
    raw = await h.store.read(k)
    assert raw is not None and raw.data is not None
    assert b"plaintext-canary" not in raw.data and len(raw.data) > len(plaintext)
    opened = await enc.read(k)
    assert opened is not None and opened.data == plaintext
    assert (await enc.acquire(k, "n1", LONG)).data == plaintext
    assert [r.data for r in await enc.scan(None, 10)] == [plaintext]


async def test_unknown_key_is_a_decryption_error(h: Harness) -> None:
    keys = await seed(EncryptedStore(h.store, Keyring(K1)), h, 1)
    stranger = EncryptedStore(h.store, Keyring(K3, (K2,)))
    with pytest.raises(DecryptionError, match="key id"):
        await stranger.read(keys[0])
    with pytest.raises(DecryptionError):
        await stranger.acquire(keys[0], "n1", LONG)


async def test_ciphertext_moved_to_another_row_fails(h: Harness) -> None:
    enc = EncryptedStore(h.store, Keyring(K1))
    a, b = await seed(enc, h, 2)
    sealed_a = (await h.store.read(a)).data
    assert sealed_a is not None
    assert await h.store.write("n1", [WriteItem(b, sealed_a, 1)], LONG) == [2]
    with pytest.raises(DecryptionError, match="another row"):
        await enc.read(b)
    assert (await enc.read(a)).data == a.actor.encode()


async def test_tampered_ciphertext_fails(h: Harness) -> None:
    enc = EncryptedStore(h.store, Keyring(K1))
    (k,) = await seed(enc, h, 1)
    sealed = (await h.store.read(k)).data
    assert sealed is not None
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert await h.store.rewrite(k, 1, sealed, flipped)
    with pytest.raises(DecryptionError):
        await enc.read(k)


async def test_rotation_reseals_under_the_new_key(h: Harness) -> None:
    keys = await seed(EncryptedStore(h.store, Keyring(K1)), h, 25)
    await h.store.register(h.key("registered-only"), "t")
    rotating = EncryptedStore(h.store, Keyring(K2, (K1,)))
    assert await readable_by(h, Keyring(K2, (K1,)), keys)  # old rows readable before rotation
    report = await rotating.rotate(batch=7)
    assert (report.scanned, report.rewritten, report.already_current) == (25, 25, 0)
    assert await readable_by(h, Keyring(K2), keys)  # the old key is no longer needed
    with pytest.raises(DecryptionError):
        await EncryptedStore(h.store, Keyring(K1)).read(keys[0])
    again = await rotating.rotate(batch=7)
    assert (again.rewritten, again.already_current) == (0, 25)


async def test_rotation_resumes_after_an_interruption(h: Harness) -> None:
    keys = await seed(EncryptedStore(h.store, Keyring(K1)), h, 20)
    calls = 0

    async def fail_tenth(key: ActorKey) -> None:
        nonlocal calls
        calls += 1
        if calls == 10:
            raise StoreUnavailable("database went away")

    ring = Keyring(K2, (K1,))
    with pytest.raises(StoreUnavailable):
        await EncryptedStore(Interfering(h.store, fail_tenth), ring).rotate(batch=4)
    report = await EncryptedStore(h.store, ring).rotate(batch=4)
    assert (report.rewritten, report.already_current) == (11, 9)
    assert await readable_by(h, Keyring(K2), keys)


async def test_rotation_retries_rows_a_running_node_writes(h: Harness) -> None:
    old_node = EncryptedStore(h.store, Keyring(K1))  # a node not yet given the new key
    keys = await seed(old_node, h, 5)
    raced = keys[2]
    done = False

    async def node_writes_first(key: ActorKey) -> None:
        nonlocal done
        if key == raced and not done:
            done = True
            assert await old_node.write("n1", [WriteItem(key, b"newer", 1)], LONG) == [2]

    ring = Keyring(K2, (K1,))
    report = await EncryptedStore(Interfering(h.store, node_writes_first), ring).rotate()
    assert report.retried == 1 and report.rewritten == 5
    row = await EncryptedStore(h.store, Keyring(K2)).read(raced)
    assert row is not None and (row.data, row.revision) == (b"newer", 2)


async def test_rotation_gives_up_on_a_row_that_never_settles(h: Harness) -> None:
    old_node = EncryptedStore(h.store, Keyring(K1))
    await seed(old_node, h, 1)

    async def always_write_first(key: ActorKey) -> None:
        row = await h.store.read(key)
        assert row is not None
        await old_node.write("n1", [WriteItem(key, b"busy", row.revision)], LONG)

    enc = EncryptedStore(Interfering(h.store, always_write_first), Keyring(K2, (K1,)))
    with pytest.raises(StateConflict, match="run it again"):
        await enc.rotate(max_rounds=3)


async def test_rotation_finishes_other_rows_before_reporting_unreadable_ones(h: Harness) -> None:
    keys = await seed(EncryptedStore(h.store, Keyring(K1)), h, 6)
    lost = h.key("sealed-with-a-lost-key")
    await EncryptedStore(h.store, Keyring(K3)).acquire(lost, "n1", LONG)
    await EncryptedStore(h.store, Keyring(K3)).write("n1", [WriteItem(lost, b"?", 0)], LONG)
    with pytest.raises(DecryptionError, match="1 rows open with no known key"):
        await EncryptedStore(h.store, Keyring(K2, (K1,))).rotate(batch=2)
    assert await readable_by(h, Keyring(K2), keys)
    report = await EncryptedStore(h.store, Keyring(K2, (K1, K3))).rotate()
    assert (report.rewritten, report.already_current) == (1, 6)
