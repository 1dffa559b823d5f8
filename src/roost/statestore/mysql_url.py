"""`mysql://` and `mariadb://` statestore URLs to connection settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from roost.errors import ConfigError
from roost.statestore.params import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE,
    QueryParams,
)
from roost.statestore.url import redact

# Debian's and most distributions' server socket; used when the URL names no host.
DEFAULT_SOCKET = "/run/mysqld/mysqld.sock"
_KNOWN = "pool_size, unix_socket, connect_timeout, command_timeout"


@dataclass(frozen=True, slots=True)
class MysqlConfig:
    """Connection settings for `MysqlStore`; `unix_socket`, when set, wins over host and port."""

    database: str
    user: str = "root"
    password: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 3306
    unix_socket: str | None = None
    pool_size: int = DEFAULT_POOL_SIZE
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT

    @property
    def where(self) -> str:
        """The server and database, for error messages (never the password)."""
        at = self.unix_socket or f"{self.host}:{self.port}"
        return f"{at}/{self.database}"


def parse_url(url: str) -> MysqlConfig:
    """`mysql://user:pass@host:3306/db?pool_size=10` (or `mariadb://`) to a config.

    With `?unix_socket=/run/mysqld/mysqld.sock`, or no host at all (`mysql://user@/db`), the
    server is reached through its Unix socket.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("mysql", "mariadb"):
        raise ConfigError(f"not a MySQL/MariaDB URL: {redact(url)!r}")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ConfigError(f"MySQL URL {redact(url)!r} must name one database (…:3306/DBNAME)")
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise ConfigError(f"MySQL URL {redact(url)!r} has a bad port") from exc
    q = QueryParams(url)
    pool_size = q.integer("pool_size", DEFAULT_POOL_SIZE, minimum=1, maximum=1000)
    socket = q.text("unix_socket") or None
    connect_timeout = q.number("connect_timeout", DEFAULT_CONNECT_TIMEOUT, minimum=1, maximum=600)
    command_timeout = q.number(
        "command_timeout", DEFAULT_COMMAND_TIMEOUT, minimum=0.1, maximum=3600
    )
    q.refuse_rest(_KNOWN)
    host = parts.hostname or ""
    if not host and socket is None:
        socket = DEFAULT_SOCKET
    return MysqlConfig(
        database=database,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        host=host or "localhost",
        port=port,
        unix_socket=socket,
        pool_size=pool_size,
        connect_timeout=connect_timeout,
        command_timeout=command_timeout,
    )
