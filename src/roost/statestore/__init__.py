"""Actor state persistence: the `StateStore` protocol, its adapters, encryption and rotation."""

from roost.statestore.base import ActorKey, Row, ScannedRow, StateStore, WriteItem
from roost.statestore.crypto import Keyring, generate_key, parse_key
from roost.statestore.encrypted import EncryptedStore, RotationReport
from roost.statestore.memory import MemoryStore
from roost.statestore.url import open_backend, open_store, redact

__all__ = [
    "ActorKey",
    "EncryptedStore",
    "Keyring",
    "MemoryStore",
    "RotationReport",
    "Row",
    "ScannedRow",
    "StateStore",
    "WriteItem",
    "generate_key",
    "open_backend",
    "open_store",
    "parse_key",
    "redact",
]
