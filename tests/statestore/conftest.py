"""Fixtures for the statestore conformance suite: `h`, one harness per store kind.

PostgreSQL and MariaDB tests skip with the reason when the server is not reachable, except under
CI=true, where they fail: CI provides both servers, so a missing one is a broken pipeline.
Point them elsewhere with ROOST_TEST_PG_URL / ROOST_TEST_MYSQL_URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.statestore import servers
from tests.statestore.harness import Harness, make_harness

KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=[pytest.mark.postgres, pytest.mark.integration]),
    pytest.param("mariadb", id="mariadb", marks=[pytest.mark.mysql, pytest.mark.integration]),
]


def kinds(*names: str) -> list[object]:
    return [k for k in KINDS if k.values[0] in names]


class Servers:
    """Asks each database once per session whether it answers."""

    def __init__(self) -> None:
        self._status: dict[str, str | None] = {}

    def require(self, kind: str) -> None:
        if kind not in ("postgres", "mariadb"):
            return
        if kind not in self._status:
            self._status[kind] = servers.probe(kind)
        reason = self._status[kind]
        servers.need(reason is None, reason or "")


@pytest.fixture(scope="session")
def db_servers() -> Servers:
    return Servers()


async def open_harness(
    request: pytest.FixtureRequest, tmp_path: Path, db_servers: Servers
) -> AsyncIterator[Harness]:
    kind: str = request.param
    db_servers.require(kind)
    harness = await make_harness(kind, tmp_path)
    try:
        yield harness
    finally:
        await harness.aclose()


@pytest.fixture(params=KINDS)
async def h(
    request: pytest.FixtureRequest, tmp_path: Path, db_servers: Servers
) -> AsyncIterator[Harness]:
    """Every store kind."""
    async for harness in open_harness(request, tmp_path, db_servers):
        yield harness


@pytest.fixture(params=kinds("sqlite", "postgres", "mariadb"))
async def disk_h(
    request: pytest.FixtureRequest, tmp_path: Path, db_servers: Servers
) -> AsyncIterator[Harness]:
    """The stores that keep their rows somewhere a dump can read."""
    async for harness in open_harness(request, tmp_path, db_servers):
        yield harness


@pytest.fixture(params=kinds("postgres", "mariadb"))
async def sql_h(
    request: pytest.FixtureRequest, tmp_path: Path, db_servers: Servers
) -> AsyncIterator[Harness]:
    """The two network databases only (server-side session kills, migrations, grants)."""
    async for harness in open_harness(request, tmp_path, db_servers):
        yield harness
