"""The pytest plugin of `roost.testing` (loaded by pytest through the ``pytest11`` entry point).

``roost_system`` is a `TestSystem` running the actor classes named by the test's
``@pytest.mark.roost_actors([Counter, ...])`` marker (a list: pytest takes a lone class given to a
marker for the thing it decorates), else by a ``roost_actors`` fixture the test
module (or a conftest) defines. Async fixtures need pytest-asyncio (or a plugin like it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from roost.testing.kit import TestSystem

try:  # strict and auto mode alike take a pytest_asyncio fixture
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio, whichever plugin runs coroutines
    async_fixture = pytest.fixture  # type: ignore[assignment]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "roost_actors([classes]): the actor classes the roost_system fixture runs"
    )


@pytest.fixture
def roost_actors() -> list[type]:
    """Override this (or use the ``roost_actors`` marker) to choose the actors under test."""
    return []


@async_fixture
async def roost_system(
    request: pytest.FixtureRequest, roost_actors: list[type]
) -> AsyncIterator[TestSystem]:
    """An in-process system on the memory store with a virtual clock (see `TestSystem`)."""
    marker = request.node.get_closest_marker("roost_actors")
    actors: list[Any] = list(roost_actors)
    if marker is not None:
        actors = [
            a for arg in marker.args for a in (arg if isinstance(arg, list | tuple) else [arg])
        ]
    if not actors:
        raise pytest.UsageError(
            "roost_system runs no actors: mark the test @pytest.mark.roost_actors([MyActor]) "
            "or define a roost_actors fixture"
        )
    async with TestSystem(*actors) as system:
        yield system
