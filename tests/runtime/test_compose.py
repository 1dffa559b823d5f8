"""Composing actors in one process: timers, scheduled invocations, effects, pipe, forward,
broadcast to channels, pooled workers, metadata and caller, protobuf state, checkpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import roost
from examples.composing import ACTORS
from examples.counters import Counter, Incrementor, Tally
from examples.proto_counter import AddMsg, ProtoCounter, TallyMsg
from roost import Actor, Channel, Context, Timer, Value, action
from roost.errors import ActionNotFound, BadRequest
from roost.runtime.reserved import RESERVED_SYSTEM, SCHED, Scheduler
from roost.sdk.actor import ActorDefinitionError, ActorType
from roost.statestore import MemoryStore

SYS = "compose"


class Planner(Actor):
    """Schedules a call to `audit` from inside its own turn (`ctx.invoke(..., delay_ms=...)`)."""

    name = "planner"

    @action
    async def plan(self, payload: dict[str, Any], ctx: Context) -> Value:
        sid = await ctx.invoke(
            "audit", "record", payload["event"], metadata={"why": "planned"},
            delay_ms=payload.get("delay_ms"), scheduled_to=payload.get("at_ms"),
        )  # fmt: skip
        return Value().response(sid)


@pytest.fixture
async def system() -> AsyncIterator[roost.ActorSystem]:
    actors = [*ACTORS, Incrementor, Counter, Tally, ProtoCounter, Planner]
    async with roost.ActorSystem(SYS, actors=actors, statestore=MemoryStore()) as s:
        yield s


async def settle(s: roost.ActorSystem) -> None:
    """Wait for every background step (effects, deliveries, ticks, scheduled calls) to finish."""
    rt = s.core.runtime
    for _ in range(50):
        pending = [*rt.tasks, *s.core.scheduler._tasks]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)
    raise AssertionError("background work never settled")


def advance_wall(sched: Scheduler, seconds: float) -> None:
    """Move the scheduler's wall clock ahead of real time (due times are real unix ms)."""
    real_wall = sched.wall
    sched.wall = lambda: real_wall() + seconds


async def pending_schedules(s: roost.ActorSystem) -> int:
    rows, _ = await s.core.scan_prefix(RESERVED_SYSTEM, SCHED, None, 100)
    return len(rows)


async def test_effect_runs_after_the_reply_with_caller_and_metadata(
    system: roost.ActorSystem,
) -> None:
    reply = await system.invoke("orders", "place", {"item": "tea"}, metadata={"user": "ana"})
    assert reply == {"order": 1}
    await settle(system)
    log = await system.invoke("audit", "get")
    assert log == [
        {
            "event": {"order": 1, "item": "tea", "by": "ana"},
            "caller": "orders",
            "metadata": {"user": "ana"},
        }
    ]


async def test_failed_effect_is_counted_not_returned(system: roost.ActorSystem) -> None:
    class Careless(Actor):
        name = "careless"

        @action
        async def go(self, ctx: Context) -> Value:
            return Value().response("done").effect("nobody-home", "x")

    async with roost.ActorSystem("c", actors=[Careless]) as s:
        assert await s.invoke("careless", "go") == "done"
        await settle(s)
        assert s.metrics.workflow_errors[("effect",)] == 1


async def test_pipe_returns_the_targets_reply(system: roost.ActorSystem) -> None:
    reply = await system.invoke("checkout", "price", {"items": ["a", "b", "c"]})
    assert reply == {"items": 3, "price": 30}


async def test_forward_sends_the_input_on(system: roost.ActorSystem) -> None:
    reply = await system.invoke("checkout", "order", {"item": "cake"}, metadata={"user": "bo"})
    assert reply == {"order": 1}
    await settle(system)
    assert (await system.invoke("audit", "get"))[0]["metadata"] == {"user": "bo"}


async def test_broadcast_reaches_each_active_subscriber_once(system: roost.ActorSystem) -> None:
    for name in ("s1", "s2"):  # active subscribers
        await system.invoke(name, "get", parent="shipper")
    await system.invoke("orders", "place", {"item": "pie"})
    await settle(system)
    expected = [{"order": 1, "item": "pie", "by": None}]
    assert await system.invoke("s1", "get", parent="shipper") == expected
    assert await system.invoke("s2", "get", parent="shipper") == expected
    # a subscriber that was not active when it was sent does not get it (no durable queue)
    assert await system.invoke("s3", "get", parent="shipper") == []


async def test_a_broadcast_delivered_twice_runs_once(system: roost.ActorSystem) -> None:
    await system.invoke("s1", "get", parent="shipper")
    rt = system.core.runtime
    for _ in range(2):  # the same id twice: as when a handoff races the delivery
        await rt.invoke(SYS, "s1", "receive", {"x": 1}, dedupe="same-id")
    assert await system.invoke("s1", "get", parent="shipper") == [{"x": 1}]


async def test_timer_ticks_one_turn_at_a_time(system: roost.ActorSystem) -> None:
    rt = system.core.runtime
    assert await system.invoke("ticker", "get") == {"ticks": 0}
    for i in range(1, 4):
        assert rt.fire_timers(rt.clock() + i) == 1
        await settle(system)
    assert await system.invoke("ticker", "get") == {"ticks": 3}


async def test_a_slow_tick_is_skipped_not_piled_up() -> None:
    gate = asyncio.Event()

    class Slow(Actor):
        name = "slow"
        timers = (Timer("tick", every_ms=10),)

        @action
        async def tick(self, ctx: Context) -> Value:
            await gate.wait()
            return Value().state({"n": (ctx.state or {}).get("n", 0) + 1})

    async with roost.ActorSystem("t", actors=[Slow]) as s:
        rt = s.core.runtime
        await s.invoke("slow", "get_state")
        assert rt.fire_timers(rt.clock() + 1) == 1
        assert rt.fire_timers(rt.clock() + 2) == 0  # the first tick still runs: skip
        gate.set()
        await settle(s)
        assert await s.invoke("slow", "get_state") == {"n": 1}


async def test_timer_actors_are_not_idled_out(system: roost.ActorSystem) -> None:
    rt = system.core.runtime
    await system.invoke("ticker", "get")
    await rt.reap_idle(rt.clock() + 3600)  # (warmed-up named actors without timers go)
    assert ("compose", "ticker") in rt.active
    assert [a.key.actor for a in rt.active.values() if not a.type.timers] == []


async def test_timer_actors_are_pinned_and_revived(system: roost.ActorSystem) -> None:
    await system.invoke("ticker", "get")
    await settle(system)
    await asyncio.gather(*system.core.pins._tasks)
    await system.core.runtime.flush_all("handoff")  # gone from memory...
    system.core.runtime.accepting = True
    assert await system.core.pins.revive() == 1  # ...and woken by the pin sweep
    assert ("compose", "ticker") in system.core.runtime.active


async def test_scheduled_invocation_fires_once(system: roost.ActorSystem) -> None:
    sid = await system.schedule("incrementor", "add", {"value": 5}, delay_ms=0)
    assert isinstance(sid, str)
    assert await system.core.scheduler.poll() == 1
    await settle(system)
    assert await system.core.scheduler.poll() == 0  # deleted once fired
    assert await system.invoke("incrementor", "get_state") == {"total": 5}


async def test_scheduled_invocation_waits_for_its_time(system: roost.ActorSystem) -> None:
    sched = system.core.scheduler
    await system.invoke("incrementor", "add", {"value": 1}, delay_ms=60_000)
    assert await sched.poll() == 0
    real_wall = sched.wall
    sched.wall = lambda: real_wall() + 61.0
    assert await sched.poll() == 1
    await settle(system)
    assert await system.invoke("incrementor", "get_state") == {"total": 1}


async def test_delayed_effect_is_persisted_then_fired(system: roost.ActorSystem) -> None:
    sched = system.core.scheduler
    await system.invoke("orders", "remind", {"in_ms": 1000, "note": "call back"})
    await settle(system)
    assert await system.invoke("audit", "get") == []  # not yet: it waits, persisted
    real_wall = sched.wall
    sched.wall = lambda: real_wall() + 2.0
    assert await sched.poll() == 1
    await settle(system)
    log = await system.invoke("audit", "get")
    assert log[0]["event"] == {"reminder": {"in_ms": 1000, "note": "call back"}}
    assert log[0]["caller"] == "orders"


async def test_bad_schedules_are_400(system: roost.ActorSystem) -> None:
    with pytest.raises(BadRequest):
        await system.schedule("incrementor", "add", delay_ms=-1)
    with pytest.raises(ActionNotFound):
        await system.schedule("incrementor", "fly", delay_ms=10)


async def test_ctx_invoke_with_delay_is_persisted_and_fires_once(
    system: roost.ActorSystem,
) -> None:
    sched = system.core.scheduler
    sid = await system.invoke("planner", "plan", {"event": {"n": 1}, "delay_ms": 60_000})
    assert isinstance(sid, str) and sid
    assert await pending_schedules(system) == 1  # in the statestore, not in memory
    assert await sched.poll() == 0  # not due yet
    assert await system.invoke("audit", "get") == []
    advance_wall(sched, 61.0)
    assert await sched.poll() == 1
    await settle(system)
    assert await sched.poll() == 0 and await pending_schedules(system) == 0  # once
    assert await system.invoke("audit", "get") == [
        {"event": {"n": 1}, "caller": "planner", "metadata": {"why": "planned"}}
    ]


async def test_ctx_invoke_scheduled_to_waits_for_that_time(system: roost.ActorSystem) -> None:
    sched = system.core.scheduler
    at_ms = int(time.time() * 1000) + 30_000
    sid = await system.invoke("planner", "plan", {"event": "at", "at_ms": at_ms})
    assert isinstance(sid, str)
    advance_wall(sched, 20.0)
    assert await sched.poll() == 0  # 10 s early
    advance_wall(sched, 11.0)  # cumulative: 31 s ahead
    assert await sched.poll() == 1
    await settle(system)
    assert [e["event"] for e in await system.invoke("audit", "get")] == ["at"]
    with pytest.raises(BadRequest, match="exactly one of delay_ms and scheduled_to"):
        await system.invoke("planner", "plan", {"event": 1, "delay_ms": 5, "at_ms": at_ms})
    assert await pending_schedules(system) == 0  # a refused schedule leaves nothing behind


async def test_roost_invoke_schedules_on_the_system_in_this_process(
    system: roost.ActorSystem,
) -> None:
    sched = system.core.scheduler
    first = await roost.invoke(
        "incrementor", action="add", payload={"value": 2}, system=SYS, delay_ms=60_000
    )
    second = await roost.invoke(
        "incrementor", action="add", payload={"value": 3}, system=SYS,
        scheduled_to=int(time.time() * 1000) + 30_000,
    )  # fmt: skip
    assert isinstance(first, str) and isinstance(second, str) and first != second
    assert await system.invoke("incrementor", "get_state") == {"total": 0}  # nothing ran yet
    advance_wall(sched, 61.0)
    assert await sched.poll() == 2
    await settle(system)
    assert await system.invoke("incrementor", "get_state") == {"total": 5}
    with pytest.raises(BadRequest):
        await roost.invoke("incrementor", action="add", system=SYS, delay_ms=-5)


async def test_pooled_calls_run_concurrently_up_to_the_pool_size() -> None:
    inside = 0
    peak = 0
    release = asyncio.Event()

    class Worker(Actor):
        name = "worker"
        kind = "pooled"
        max_pool_size = 3

        @action
        async def work(self, ctx: Context) -> Value:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            await release.wait()
            inside -= 1
            return Value().response("ok")

    async with roost.ActorSystem("p", actors=[Worker]) as s:
        calls = [asyncio.ensure_future(s.invoke("worker", "work")) for _ in range(7)]
        while inside < 3:
            await asyncio.sleep(0)
        release.set()
        assert await asyncio.gather(*calls) == ["ok"] * 7
        assert peak == 3
        assert s.core.runtime.pools[("p", "worker")].size == 3
        assert not s.core.runtime.active  # stateless: no activations, no store rows


async def test_a_pool_keeps_min_instances_ready_and_never_exceeds_max() -> None:
    made = {"worker": 0, "lazy": 0}
    inside = peak = 0
    release = asyncio.Event()

    class Worker(Actor):
        name = "worker"
        kind = "pooled"
        min_pool_size = 2
        max_pool_size = 3

        def __init__(self) -> None:
            made[self.name] += 1

        @action
        async def work(self, ctx: Context) -> Value:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            await release.wait()
            inside -= 1
            return Value().response("ok")

    class Lazy(Worker):
        name = "lazy"
        min_pool_size = 0
        max_pool_size = 2

    async with roost.ActorSystem("p", actors=[Worker, Lazy]) as s:
        pool = s.core.runtime.pools[("p", "worker")]
        # min instances exist before any call (plus one each: registration checks that the
        # class constructs without arguments)
        assert made == {"worker": 1 + 2, "lazy": 1 + 0}
        assert (pool.size, pool.busy) == (2, 0)
        calls = [asyncio.ensure_future(s.invoke("worker", "work")) for _ in range(10)]
        while inside < 3:
            await asyncio.sleep(0)
        for _ in range(20):  # let the other seven try to start (they must wait)
            await asyncio.sleep(0)
        assert (inside, made["worker"], pool.size, pool.busy) == (3, 1 + 3, 3, 3)
        release.set()
        assert await asyncio.gather(*calls) == ["ok"] * 10
        assert peak == 3 and made["worker"] == 1 + 3  # never past max, instances reused
        assert pool.busy == 0 and pool.size >= Worker.min_pool_size  # still ready
        assert await s.invoke("lazy", "work") == "ok"
        assert made["lazy"] == 1 + 1  # min 0: created on demand


async def test_protobuf_state_and_payloads(system: roost.ActorSystem) -> None:
    assert await system.invoke("proto-counter", "add", AddMsg(value=2)) == TallyMsg(total=2)
    assert await system.invoke("proto-counter", "add", {"value": 5}) == TallyMsg(total=7)
    assert await system.invoke("proto-counter", "get_state") == TallyMsg(total=7)
    with pytest.raises(BadRequest, match=r"roost\.examples\.Add"):
        await system.invoke("proto-counter", "add", {"value": "seven"})
    with pytest.raises(BadRequest, match=r"takes roost\.examples\.Add"):
        await system.invoke("proto-counter", "add", TallyMsg(total=1))


async def test_checkpoint_persists_a_snapshot_actor_before_the_reply() -> None:
    from examples.composing import Journal

    store = MemoryStore()
    async with roost.ActorSystem("j", actors=[Journal], statestore=store) as s:
        await s.invoke("journal", "write", {"text": "scratch"})
        assert store.writes == 0  # write-behind
        await s.invoke("journal", "write", {"text": "keep", "important": True})
        assert store.writes == 1  # checkpointed before the reply


def test_composition_is_validated_at_registration() -> None:
    class BadTimer(Actor):
        name = "bad"
        timers = (Timer("nope", every_ms=100),)

    with pytest.raises(ActorDefinitionError, match="timer action 'nope'"):
        ActorType.from_class(BadTimer)

    class TooFast(Actor):
        name = "fast"
        timers = (Timer("tick", every_ms=1),)

        @action
        async def tick(self, ctx: Context) -> Value:
            return Value()

    with pytest.raises(ActorDefinitionError, match="every_ms must be an integer >= 10"):
        ActorType.from_class(TooFast)

    class PooledTimer(TooFast):
        name = "pt"
        kind = "pooled"
        timers = (Timer("tick", every_ms=100),)

    with pytest.raises(ActorDefinitionError, match="pooled actors are stateless"):
        ActorType.from_class(PooledTimer)


async def test_examples_module_loads_and_answers(system: roost.ActorSystem) -> None:
    """Every example actor registers and answers a call (the examples are run by tests)."""
    answers: dict[str, Any] = {
        "ticker": await system.invoke("ticker", "get"),
        "audit": await system.invoke("audit", "get"),
        "pricer": await system.invoke("pricer", "quote", {"items": [1]}),
        "journal": await system.invoke("journal", "write", {"text": "x"}),
    }
    assert answers == {
        "ticker": {"ticks": 0},
        "audit": [],
        "pricer": {"items": 1, "price": 10},
        "journal": 1,
    }


class Listener(Actor):
    """An unnamed subscriber that goes idle quickly (issue 24, bug 1)."""

    name = "listener"
    kind = "unnamed"
    durability = "sync"
    deactivate_timeout = 100
    channels = (Channel("news"),)

    @action
    async def receive(self, payload: Any, ctx: Context) -> Value:
        return Value().state({"seen": [*(ctx.state or {}).get("seen", []), payload]})


class Newsroom(Actor):
    name = "newsroom"

    @action
    async def publish(self, payload: Any, ctx: Context) -> Value:
        return Value().broadcast("news", payload)


def test_runtime_unsubscribe_is_compositions() -> None:
    """A typing stub of a mixin earlier in the MRO must never hide the real method."""
    from roost.runtime.compose import Composition
    from roost.runtime.host import Runtime

    assert Runtime.unsubscribe is Composition.unsubscribe


async def test_an_idle_unnamed_subscriber_is_unsubscribed_not_revived() -> None:
    async with roost.ActorSystem("news", actors=[Listener, Newsroom]) as s:
        rt = s.core.runtime
        await s.invoke("l1", "get_state", parent="listener")
        assert set(rt.subscribers[("news", "news")]) == {("news", "l1")}
        assert await rt.reap_idle(rt.clock() + 1.0) == 1  # idle past its 100 ms
        assert ("news", "l1") not in rt.active
        assert rt.subscribers.get(("news", "news"), {}) == {}  # no closed activation kept
        await s.invoke("newsroom", "publish", {"n": 1})
        await settle(s)
        assert ("news", "l1") not in rt.active  # not revived by the broadcast
        assert await s.invoke("l1", "get_state", parent="listener") is None  # and never got it


async def test_a_subscriber_closed_before_its_delivery_is_neither_revived_nor_forwarded() -> None:
    from roost.sdk.workflow import Broadcast

    async with roost.ActorSystem("news", actors=[Listener, Newsroom]) as s:
        rt = s.core.runtime
        await s.invoke("l1", "get_state", parent="listener")
        act = rt.active[("news", "l1")]  # type: ignore[index]
        act.busy = True  # a turn runs: the delivery queues behind it
        assert await rt.deliver_local("news", Broadcast("news", {"n": 1}), None, None, "b1") == 1
        await asyncio.sleep(0)  # the delivery is queued now
        handoff = asyncio.ensure_future(rt.deactivate([act], "handoff"))  # jumps the queue
        while act.queued < 2:
            await asyncio.sleep(0)
        act.end_turn()
        assert await handoff == 1  # handed off before the delivery's turn came
        await settle(s)
        assert ("news", "l1") not in rt.active
        assert await s.invoke("l1", "get_state", parent="listener") is None


class Archive(Actor):
    """A named subscriber: it gets every broadcast on its channel, active or not."""

    name = "archive"
    durability = "sync"
    channels = (Channel("news", action="keep"),)

    @action
    async def keep(self, payload: Any, ctx: Context) -> Value:
        return Value().state({"kept": [*(ctx.state or {}).get("kept", []), payload]})


async def test_a_broadcast_reaches_an_idle_named_subscriber_once() -> None:
    async with roost.ActorSystem("news", actors=[Archive, Listener, Newsroom]) as s:
        rt = s.core.runtime
        await s.core.warmup.sweep()
        await rt.flush_all("idle")  # nothing active: the archive is idle, not subscribed
        rt.accepting = True
        assert ("news", "archive") not in rt.active
        await s.invoke("newsroom", "publish", {"n": 1})
        await settle(s)
        assert await s.invoke("archive", "get_state") == {"kept": [{"n": 1}]}
        assert rt.subscribers.get(("news", "news"), {}) == {}  # named ones are reached by name


async def test_a_named_subscriber_runs_a_broadcast_id_once() -> None:
    async with roost.ActorSystem("news", actors=[Archive, Newsroom]) as s:
        rt = s.core.runtime
        for _ in range(2):  # the same broadcast delivered twice (a retry, two senders)
            await rt._deliver_named("news", "archive", "keep", {"n": 1}, None, None, "same-id")
        assert await s.invoke("archive", "get_state") == {"kept": [{"n": 1}]}
