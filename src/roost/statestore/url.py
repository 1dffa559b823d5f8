"""Pick and build a `StateStore` adapter from a URL (`ROOST_STATESTORE_URL`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from roost.errors import ConfigError
from roost.statestore.base import StateStore
from roost.statestore.crypto import Keyring
from roost.statestore.encrypted import EncryptedStore

SCHEMES = ("sqlite", "memory", "postgresql", "postgres", "mysql", "mariadb")


def open_backend(url: str) -> StateStore:
    """The adapter for `url`, not yet connected (connections open on first use)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from roost.statestore.sqlite import SqliteStore, sqlite_path

        try:
            return SqliteStore(sqlite_path(url))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    if scheme == "memory":
        from roost.statestore.memory import MemoryStore

        return MemoryStore()
    if scheme in ("postgresql", "postgres"):
        from roost.statestore.postgres import PostgresStore

        return PostgresStore.from_url(url)
    if scheme in ("mysql", "mariadb"):
        from roost.statestore.mysql import MysqlStore

        return MysqlStore.from_url(url)
    raise ConfigError(
        f"unsupported statestore URL {redact(url)!r}: the scheme must be one of "
        + ", ".join(f"{s}://" for s in SCHEMES)
    )


def open_store(url: str, keyring: Keyring) -> EncryptedStore:
    return EncryptedStore(open_backend(url), keyring)


def redact(url: str) -> str:
    """The URL with any password replaced, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
