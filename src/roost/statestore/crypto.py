"""The encryption envelope and the keyring (pure: no I/O, no clock).

Envelope layout, all stored as one opaque byte string::

    version (1 byte, = 1) | key id (8 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext + tag

The additional authenticated data is the row key, so a ciphertext copied into another row fails to
decrypt. The key id is a hash of the key, so decryption picks the right key without trying each.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from roost.errors import ConfigError, DecryptionError

VERSION = 1
KEY_ID_LEN = 8
NONCE_LEN = 12
HEADER_LEN = 1 + KEY_ID_LEN + NONCE_LEN
TAG_LEN = 16


def generate_key() -> str:
    """A new random key, base64 of 32 bytes, as ROOST_STATESTORE_KEY takes it."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def parse_key(text: str, what: str = "ROOST_STATESTORE_KEY") -> bytes:
    """Decode a base64 key of exactly 32 bytes, or say clearly what is wrong with it."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{what} is not valid base64; make one with `roost keygen`") from exc
    if len(raw) != 32:
        raise ConfigError(
            f"{what} must be base64 of 32 bytes (AES-256), got {len(raw)} bytes; "
            "make one with `roost keygen`"
        )
    return raw


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"roost-statestore-key-id\x00" + key).digest()[:KEY_ID_LEN]


def row_aad(system: str, actor: str) -> bytes:
    """The additional authenticated data binding a ciphertext to its row."""
    s, a = system.encode(), actor.encode()
    return b"roost/1\x00" + len(s).to_bytes(4, "big") + s + a


@dataclass(slots=True)
class Keyring:
    """A primary key that seals, plus older keys that may still open."""

    primary: bytes
    old: tuple[bytes, ...] = ()
    _by_id: dict[bytes, AESGCM] = field(init=False, repr=False)
    _primary_id: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for k in (self.primary, *self.old):
            if len(k) != 32:
                raise ConfigError("statestore keys must be 32 bytes (AES-256)")
        self._primary_id = key_id(self.primary)
        self._by_id = {key_id(k): AESGCM(k) for k in (*self.old, self.primary)}

    @classmethod
    def from_text(cls, primary: str, old: str | Iterable[str] = ()) -> Keyring:
        """Keys as the environment gives them; `old` may be ROOST_STATESTORE_OLD_KEYS verbatim
        (a comma list), which would otherwise be iterated character by character."""
        if isinstance(old, str):
            old = old.split(",")
        olds = tuple(parse_key(o, "ROOST_STATESTORE_OLD_KEYS") for o in old if o.strip())
        return cls(parse_key(primary), olds)

    @property
    def primary_id(self) -> bytes:
        return self._primary_id

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_LEN)
        sealed = self._by_id[self._primary_id].encrypt(nonce, plaintext, aad)
        return bytes([VERSION]) + self._primary_id + nonce + sealed

    def open(self, aad: bytes, envelope: bytes) -> bytes:
        if len(envelope) < HEADER_LEN + TAG_LEN or envelope[0] != VERSION:
            raise DecryptionError("stored state is not a Roost envelope (version or length wrong)")
        kid = envelope[1 : 1 + KEY_ID_LEN]
        aes = self._by_id.get(kid)
        if aes is None:
            raise DecryptionError(
                f"stored state was sealed with key id {kid.hex()}, which is neither "
                "ROOST_STATESTORE_KEY nor one of ROOST_STATESTORE_OLD_KEYS"
            )
        nonce = envelope[1 + KEY_ID_LEN : HEADER_LEN]
        try:
            return aes.decrypt(nonce, envelope[HEADER_LEN:], aad)
        except InvalidTag as exc:
            raise DecryptionError(
                "stored state failed authentication (tampered, or copied from another row)"
            ) from exc

    def sealed_with_primary(self, envelope: bytes) -> bool:
        return envelope[1 : 1 + KEY_ID_LEN] == self._primary_id
