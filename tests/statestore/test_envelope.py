"""The encryption envelope: tamper, wrong key, moved ciphertext, key ids, rotation."""

from __future__ import annotations

import pytest

from roost.errors import ConfigError, DecryptionError
from roost.statestore import ActorKey, EncryptedStore, Keyring, MemoryStore, WriteItem
from roost.statestore.crypto import HEADER_LEN, parse_key, row_aad

A = row_aad("sys", "a")
K1, K2 = b"1" * 32, b"2" * 32


def test_round_trip_and_layout() -> None:
    ring = Keyring(K1)
    env = ring.seal(A, b'{"total": 1}')
    assert env[0] == 1
    assert env[1:9] == ring.primary_id
    assert len(env) == HEADER_LEN + len(b'{"total": 1}') + 16
    assert b"total" not in env
    assert ring.open(A, env) == b'{"total": 1}'


def test_nonces_differ() -> None:
    ring = Keyring(K1)
    assert ring.seal(A, b"x") != ring.seal(A, b"x")


def test_tampered_ciphertext_fails() -> None:
    ring = Keyring(K1)
    env = bytearray(ring.seal(A, b"hello"))
    env[-1] ^= 1
    with pytest.raises(DecryptionError, match="failed authentication"):
        ring.open(A, bytes(env))


def test_wrong_key_is_named_by_its_id() -> None:
    env = Keyring(K1).seal(A, b"hello")
    with pytest.raises(DecryptionError, match="key id"):
        Keyring(K2).open(A, env)


def test_ciphertext_moved_to_another_row_fails() -> None:
    ring = Keyring(K1)
    env = ring.seal(row_aad("sys", "a"), b"hello")
    with pytest.raises(DecryptionError):
        ring.open(row_aad("sys", "b"), env)
    with pytest.raises(DecryptionError):  # system/actor boundaries cannot be shifted
        ring.open(row_aad("sy", "sa"), env)


def test_old_keys_open_but_do_not_seal() -> None:
    old = Keyring(K1).seal(A, b"hello")
    ring = Keyring(K2, (K1,))
    assert ring.open(A, old) == b"hello"
    assert ring.sealed_with_primary(ring.seal(A, b"x"))
    assert not ring.sealed_with_primary(old)


def test_garbage_is_not_an_envelope() -> None:
    with pytest.raises(DecryptionError, match="not a Roost envelope"):
        Keyring(K1).open(A, b"plain text that is long enough to pass length")


@pytest.mark.parametrize("text", ["not base64!", "c2hvcnQ=", ""])
def test_bad_keys_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="roost keygen"):
        parse_key(text)


async def test_encrypted_store_keeps_only_ciphertext_and_rotates() -> None:
    raw = MemoryStore()
    key = ActorKey("sys", "a")
    old = EncryptedStore(raw, Keyring(K1))
    row = await old.acquire(key, "n1", 10.0)
    await old.write("n1", [WriteItem(key, b'{"secret": 42}', row.revision)], 10.0)
    stored = await raw.read(key)
    assert stored is not None and stored.data is not None and b"secret" not in stored.data
    new = EncryptedStore(raw, Keyring(K2, (K1,)))
    report = await new.rotate()
    assert report.rewritten == 1
    only_new = EncryptedStore(raw, Keyring(K2))
    after = await only_new.read(key)
    assert after is not None and after.data == b'{"secret": 42}'
    assert after.revision == 1  # rotation keeps the revision: the owner's view stays valid
    assert (await new.rotate()).already_current == 1  # resumable: a second run has nothing to do
