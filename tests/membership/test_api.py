"""The package's public surface, and start-up checks that need no serf."""

from __future__ import annotations

import asyncio
import random

import pytest

from roost import membership
from roost.errors import ConfigError, Unavailable
from roost.membership import Backoff, MemberStatus, SerfMembership, SerfSettings
from roost.membership.clock import wait_event
from roost.membership.errors import SerfConnectionError, first_error
from roost.membership.rpc import connect_with_backoff


def test_all_names_exist_and_nothing_else_public_is_missing() -> None:
    assert sorted(membership.__all__) == sorted(set(membership.__all__))
    for name in membership.__all__:
        assert hasattr(membership, name), name
    classes = {n for n in vars(membership) if n[0].isupper()}
    assert classes <= set(membership.__all__)  # every class the package imports is exported


def test_serf_errors_are_unavailable() -> None:
    assert issubclass(membership.SerfError, Unavailable)
    assert not membership.SerfAuthError.retryable and membership.SerfConnectionError.retryable


def test_first_error_digs_into_groups() -> None:
    inner = ConfigError("bad")
    group = BaseExceptionGroup("outer", [ValueError("x"), ExceptionGroup("g", [inner])])
    assert first_error(group) is inner
    plain = ValueError("y")
    assert first_error(BaseExceptionGroup("o", [plain])) is plain


async def test_start_refuses_cluster_mode_without_a_secret() -> None:
    node = SerfMembership(SerfSettings(node_id="n1", seeds=("127.0.0.1:7946",)))
    with pytest.raises(ConfigError, match="ROOST_CLUSTER_SECRET"):
        await node.start()
    await node.stop()


def test_create_membership_picks_local_without_seeds() -> None:
    local = membership.create_membership(SerfSettings(node_id="n1", http_advertise="h:1"))
    assert isinstance(local, membership.LocalMembership)
    assert list(local.view.members) == ["n1"]
    serf = membership.create_membership(SerfSettings(node_id="n1", seeds=("mdns",), insecure=True))
    assert isinstance(serf, SerfMembership)


def test_bad_seed_is_a_config_error_at_construction() -> None:
    with pytest.raises(ConfigError):
        SerfMembership(SerfSettings(node_id="n1", seeds=("dns:",), insecure=True))


async def test_view_before_start_is_this_node_joining() -> None:
    node = SerfMembership(SerfSettings(node_id="n1", http_advertise="h:1", insecure=True))
    me = node.view.get("n1")
    assert me is not None and me.status is MemberStatus.JOINING and me.http == "h:1"
    with pytest.raises(ValueError, match="leave"):
        await node.set_status(MemberStatus.LEFT)
    await node.set_status(MemberStatus.ACTIVE)  # before start: remembered for the launch
    assert not node.connected and node.restarts == 0
    await node.stop()


class FakeClock:
    """Virtual time: sleeping advances it at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_connect_with_backoff_gives_up_at_the_deadline() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=0.5, cap=4.0, rng=random.Random(3))
    with pytest.raises(SerfConnectionError):
        await connect_with_backoff("127.0.0.1:1", None, deadline=10.0, clock=clock, backoff=backoff)
    assert clock.now == pytest.approx(10.0)
    assert len(clock.slept) >= 4 and all(d <= 4.0 for d in clock.slept)


async def test_wait_event_returns_on_event_or_time() -> None:
    clock = FakeClock()
    event = asyncio.Event()
    await wait_event(event, 5.0, clock)
    assert clock.now == 5.0
    event.set()
    never = FakeClock()

    async def forever(_s: float) -> None:
        await asyncio.Event().wait()

    never.sleep = forever  # type: ignore[method-assign]
    await wait_event(event, 5.0, never)
    assert never.now == 0.0
