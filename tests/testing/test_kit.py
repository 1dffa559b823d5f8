"""roost.testing: the virtual clock drives timers, snapshots, idle deactivation and scheduled
calls without sleeping; calls between actors are recorded; the store can be made to fail."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from roost import Actor, Channel, Context, Timer, Value, action
from roost.errors import StoreUnavailable
from roost.testing import TestSystem


@dataclass
class Count:
    n: int = 0


@dataclass
class Bump:
    by: int = 1


class Ticker(Actor):
    name = "ticker"
    state_type = Count
    timers = (Timer("tick", every_ms=100),)

    @action
    async def tick(self, ctx: Context) -> Value[None]:
        ctx.state.n += 1
        return Value().state(ctx.state)


class Box(Actor):
    name = "box"
    state_type = Count
    snapshot_timeout = 10_000
    deactivate_timeout = 30_000
    channels = (Channel("news", action="hear"),)

    @action
    async def bump(self, req: Bump, ctx: Context) -> Value[int]:
        ctx.state.n += req.by
        return Value().state(ctx.state).response(ctx.state.n)

    @action
    async def hear(self, payload: object, ctx: Context) -> Value[None]:
        ctx.state.n += 100
        return Value().state(ctx.state)


class Safe(Box):
    name = "safe"
    durability = "sync"
    channels = ()


class Chatty(Actor):
    """Makes one call of each kind."""

    name = "chatty"

    @action
    async def talk(self, ctx: Context) -> Value[int]:
        got = await ctx.ref(Box).bump(Bump(by=2))  # ctx.invoke, through a typed ref
        await ctx.invoke("box", "bump", {"by": 3}, delay_ms=1_000)
        return (
            Value()
            .response(got)
            .effect("box", "bump", {"by": 4}, metadata={"why": "effect"})
            .effect("box", "bump", {"by": 5}, delay_ms=2_000)
            .broadcast("news", {"headline": "hi"})
        )

    @action
    async def relay(self, ctx: Context) -> Value[int]:
        return Value().response({"by": 7}).pipe("box", "bump")


async def test_timers_fire_as_the_clock_advances_without_sleeping() -> None:
    async with TestSystem(Ticker) as system:
        await system.invoke("ticker", "get_state")  # activates it: its timer is armed
        t0 = time.monotonic()
        await system.advance(ms=1_000)
        assert await system.state("ticker") == Count(n=10)
        await system.advance(ms=50)
        assert await system.state("ticker") == Count(n=10)
        await system.advance(ms=50)
        assert await system.state("ticker") == Count(n=11)
        assert time.monotonic() - t0 < 5  # virtual seconds, not real ones


async def test_snapshots_are_written_when_their_time_comes() -> None:
    async with TestSystem(Box) as system:
        box = system.ref(Box)
        assert await box.bump(Bump(by=1)) == 1
        assert await system.stored_state(Box) is None  # write-behind: not yet
        await system.advance(ms=9_999)
        assert await system.stored_state(Box) is None
        await system.advance(ms=1)
        assert await system.stored_state(Box) == Count(n=1)


async def test_idle_actors_deactivate_and_come_back_with_their_state() -> None:
    async with TestSystem(Box) as system:
        await system.ref(Box).bump(Bump(by=5))
        await system.advance(ms=29_000)
        assert system.is_active("box")
        await system.advance(ms=1_000)
        assert not system.is_active("box")
        assert await system.stored_state(Box) == Count(n=5)
        assert await system.ref(Box).bump(Bump()) == 6  # activated again from the store


async def test_scheduled_calls_run_when_due() -> None:
    async with TestSystem(Box) as system:
        await system.ref(Box).bump.delay(Bump(by=9), ms=5_000)
        await system.advance(ms=4_999)
        assert await system.state("box") == Count(n=0)
        await system.advance(ms=1)
        assert await system.state("box") == Count(n=9)


async def test_calls_between_actors_are_recorded_by_kind() -> None:
    async with TestSystem(Chatty, Box) as system:
        await system.invoke("box", "bump", {"by": 0})  # subscribed to "news"
        assert await system.invoke("chatty", "talk") == 2
        await system.advance()  # let the effects and the broadcast run
        calls = system.calls
        calls.expect(caller="chatty", kind="invoke", actor="box", payload=Bump(by=2))
        later = calls.expect(caller="chatty", kind="schedule", payload={"by": 3})
        assert later.delay_ms == 1_000
        now = calls.expect(caller="chatty", kind="effect", payload={"by": 4})
        assert now.metadata == {"why": "effect"}
        assert calls.expect(caller="chatty", kind="effect", payload={"by": 5}).delay_ms == 2_000
        calls.expect(caller="chatty", kind="broadcast", actor="news")
        assert len(calls.filter(caller="chatty")) == 5  # nothing counted twice
        assert await system.state("box") == Count(n=2 + 4 + 100)
        await system.advance(ms=2_000)  # the scheduled call and the delayed effect
        assert await system.state("box") == Count(n=2 + 4 + 100 + 3 + 5)
        assert len(calls.filter(caller="chatty")) == 5

        calls.clear()
        assert await system.invoke("chatty", "relay") == 2 + 4 + 100 + 3 + 5 + 7
        pipe = calls.expect(kind="pipe")
        assert (pipe.caller is not None and pipe.caller.name, pipe.payload) == ("chatty", {"by": 7})
        assert len(calls) == 1
        with pytest.raises(AssertionError, match="expected one call"):
            calls.expect(kind="forward")


async def test_a_failed_sync_write_is_refused_and_rolled_back() -> None:
    async with TestSystem(Safe) as system:
        safe = system.ref(Safe)
        await safe.bump(Bump(by=1))
        system.store.fail_writes(1)
        with pytest.raises(StoreUnavailable):
            await safe.bump(Bump(by=10))
        assert await system.state("safe") == Count(n=1)
        assert await system.stored_state(Safe) == Count(n=1)
        assert await safe.bump(Bump(by=1)) == 2  # the store is back


async def test_a_failed_snapshot_is_retried_later() -> None:
    async with TestSystem(Box) as system:
        await system.ref(Box).bump(Bump(by=3))
        system.store.fail_writes(1)
        await system.advance(ms=10_000)
        assert system.store.failed_writes == 1 and system.errors
        assert await system.stored_state(Box) is None
        await system.advance(ms=10_000)
        assert await system.stored_state(Box) == Count(n=3)


@pytest.mark.roost_actors([Box])
async def test_the_pytest_fixture_runs_the_marked_actors(roost_system: TestSystem) -> None:
    assert await roost_system.ref(Box).bump(Bump(by=2)) == 2
    await roost_system.advance(ms=10_000)
    assert await roost_system.stored_state("box") == Count(n=2)
