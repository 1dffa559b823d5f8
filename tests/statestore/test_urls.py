"""Statestore URLs: every documented form parses, and mistakes stop start-up with ConfigError."""

from __future__ import annotations

import pytest

from roost.errors import ConfigError
from roost.statestore import open_backend, redact
from roost.statestore.memory import MemoryStore
from roost.statestore.mysql import MysqlStore
from roost.statestore.mysql_url import DEFAULT_SOCKET
from roost.statestore.mysql_url import parse_url as parse_mysql
from roost.statestore.postgres import PostgresStore
from roost.statestore.postgres import parse_url as parse_pg
from roost.statestore.sqlite import SqliteStore


def test_postgres_url_defaults_and_parameters() -> None:
    c = parse_pg("postgresql://roost:s3cret@db.internal:5433/actors")
    assert (c.pool_size, c.schema, c.application_name) == (10, None, "roost")
    assert c.dsn == "postgresql://roost:s3cret@db.internal:5433/actors"
    assert "s3cret" not in c.where and "s3cret" not in repr(c)
    c = parse_pg(
        "postgres://u@h/db?pool_size=25&schema=roost&connect_timeout=2&command_timeout=9"
        "&sslmode=require"
    )
    assert (c.pool_size, c.schema, c.connect_timeout, c.command_timeout) == (25, "roost", 2, 9)
    assert c.dsn == "postgresql://u@h/db?sslmode=require"  # asyncpg's own options pass through


def test_postgres_unix_socket_forms() -> None:
    assert parse_pg("postgresql://postgres@/test?host=/var/run/postgresql").dsn == (
        "postgresql://postgres@/test?host=%2Fvar%2Frun%2Fpostgresql"
    )
    assert parse_pg("postgresql:///test").dsn == "postgresql:///test"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h:5432/",
        "postgresql://h/db?pool_size=0",
        "postgresql://h/db?pool_size=ten",
        "postgresql://h/db?pool_size=2.5",
        "postgresql://h/db?schema=Bad-Name",
        "postgresql://h/db?pool_size=1&pool_size=2",
    ],
)
def test_bad_postgres_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_pg(url)


def test_mysql_url_forms() -> None:
    c = parse_mysql("mysql://roost:p%40ss@db:3307/actors?pool_size=4")
    assert (c.user, c.password, c.host, c.port, c.database) == (
        "roost",
        "p@ss",
        "db",
        3307,
        "actors",
    )
    assert (c.pool_size, c.unix_socket) == (4, None)
    assert "p@ss" not in repr(c) and "p@ss" not in c.where
    c = parse_mysql("mariadb://root@localhost/test?unix_socket=/run/mysqld/mysqld.sock")
    assert c.unix_socket == "/run/mysqld/mysqld.sock"
    assert parse_mysql("mysql://root@/test").unix_socket == DEFAULT_SOCKET
    assert parse_mysql("mysql://root@127.0.0.1/test").port == 3306


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@h/",
        "mysql://root@h/a/b",
        "mysql://root@h/db?pool_sise=3",
        "mysql://root@h:notaport/db",
        "mysql://root@h/db?connect_timeout=0",
    ],
)
def test_bad_mysql_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_mysql(url)


def test_open_backend_picks_the_adapter(tmp_path: object) -> None:
    assert isinstance(open_backend("memory://"), MemoryStore)
    assert isinstance(open_backend("sqlite:///roost-data/x.db"), SqliteStore)
    assert isinstance(open_backend("postgresql://u@h/db"), PostgresStore)
    assert isinstance(open_backend("postgres://u@h/db"), PostgresStore)
    assert isinstance(open_backend("mysql://u@h/db"), MysqlStore)
    assert isinstance(open_backend("mariadb://u@h/db"), MysqlStore)
    with pytest.raises(ConfigError, match="mongodb"):
        open_backend("mongodb://u:pw@h/db")


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("mysql://u@h/db") == "mysql://u@h/db"
