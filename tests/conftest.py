"""Fixtures shared by the whole suite: fake clocks, free ports, keys, CI strictness."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections import deque
from collections.abc import Callable
from importlib.metadata import entry_points

import pytest

from roost.statestore.crypto import generate_key

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# roost.testing's plugin (the `roost_system` fixture) loads through its pytest11 entry point once
# Roost is installed; an editable install made before that entry point existed lacks it
if not any(e.name == "roost" for e in entry_points(group="pytest11")):
    pytest_plugins = ["roost.testing.plugin"]


def need(condition: bool, reason: str) -> None:
    """Skip a test whose outside dependency is missing, except under CI=true, where it fails:
    CI provides every service, so a missing one is a broken pipeline, not a reason to skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let other tasks run until `condition()` holds: a state they move (a turn entered, a call
    queued, a request received), never a count of yields or a wall-clock sleep. Bounded by
    `timeout` so that a test whose condition never comes fails instead of hanging."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def key() -> str:
    return generate_key()


_PORTS = random.Random()
_RECENT: deque[int] = deque(maxlen=512)  # handed out lately, maybe not bound yet: not again


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (serf gossips on both), below Linux's
    ephemeral range (32768-60999): a port from that range can be taken between this check and
    the server's bind by any outgoing connection (a statestore client, a serf agent), which made
    a serf agent of a real-process test fail with "address already in use"."""
    while True:
        port = _PORTS.randrange(20_000, 32_000)
        if port in _RECENT:
            continue
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                tcp.bind(("127.0.0.1", port))
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        _RECENT.append(port)
        return port


@pytest.fixture
def port() -> int:
    return free_port()
