"""Fixtures for membership tests.

Tests marked ``serf`` drive real `serf agent` processes. Without the binary they skip with a
clear message, except under ``CI=true``, where a missing serf is a broken CI image: they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from roost.membership import MemberView, SerfMembership, SerfSettings
from tests.conftest import free_port, need

SERF_BIN = os.environ.get("ROOST_SERF_BIN", "serf")
SECRET = "membership-test-secret-0123456789"


def serf_path() -> str | None:
    return shutil.which(SERF_BIN)


@pytest.fixture(autouse=True)
def _require_serf(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("serf") is None:
        return
    need(
        serf_path() is not None,
        f"serf binary {SERF_BIN!r} not found: apt-get install serf (or set ROOST_SERF_BIN)",
    )


class Watch:
    """Waits on a membership's view changes (no polling, no sleeps)."""

    def __init__(self, membership: SerfMembership) -> None:
        self.membership = membership
        self.versions: list[int] = []
        self._changed = asyncio.Condition()
        membership.subscribe(self._on_view)

    def _on_view(self, view: MemberView) -> None:
        self.versions.append(view.version)

        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def until(self, predicate: Callable[[MemberView], bool], within: float) -> MemberView:
        """Return the first view (current or later) that satisfies `predicate`."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.membership.view))
        return self.membership.view


def status_of(view: MemberView, node: str) -> str | None:
    member = view.get(node)
    return str(member.status) if member else None


@pytest.fixture
async def cluster(tmp_path: Any) -> AsyncIterator[Callable[..., SerfMembership]]:
    """make(node_id, seeds=..., **settings) -> an unstarted SerfMembership on loopback."""
    made: list[SerfMembership] = []

    def make(node_id: str, seeds: tuple[str, ...] = (), **overrides: Any) -> SerfMembership:
        port = overrides.pop("port", None) or free_port()
        options: dict[str, Any] = {
            "gossip_bind": f"127.0.0.1:{port}",
            "http_advertise": f"127.0.0.1:{free_port()}",
            "seeds": seeds or (f"127.0.0.1:{port}",),
            "secret": SECRET,
            "serf_bin": SERF_BIN,
            "join_timeout": 10.0,
            "log_level": "warn",
        }
        options.update(overrides)
        membership = SerfMembership(SerfSettings(node_id=node_id, **options))
        made.append(membership)
        return membership

    yield make
    await asyncio.gather(*(m.stop() for m in made), return_exceptions=True)
