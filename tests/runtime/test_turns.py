"""Turns, activation, rollback, snapshots and deactivation (in-memory store, fake clock)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from examples.counters import Counter, Incrementor, Tally
from roost import ActionFailed, Actor, BadRequest, Context, Value, action
from roost.errors import ActionNotFound, ActorNotFound, NotOwner, StateConflict
from roost.runtime import Runtime, SystemTypes
from roost.sdk.actor import ActorType
from roost.statestore import ActorKey, EncryptedStore, Keyring, MemoryStore, WriteItem
from tests.conftest import FakeClock, until

SYS = "spawn-system"


class Slow(Actor):
    """Yields inside its turn, so interleaving would show if turns were not serialised."""

    name = "slow"
    inits = 0

    @action(init=True)
    async def init(self, ctx: Context) -> Value:
        Slow.inits += 1
        await asyncio.sleep(0.01)
        return Value().state(ctx.state or {"total": 0, "log": []})

    @action
    async def add(self, payload: dict[str, Any], ctx: Context) -> Value:
        before = ctx.state["total"]
        await asyncio.sleep(0)  # another turn would run here if turns overlapped
        state = {"total": before + payload["value"], "log": [*ctx.state["log"], payload["value"]]}
        return Value().state(state).response(state["total"])


class Mutator(Actor):
    """Mutates its state in place, then maybe raises: the rollback must undo the mutation."""

    name = "mutator"

    @action(init=True)
    async def init(self, ctx: Context) -> Value:
        return Value().state(ctx.state or {"items": []})

    @action
    async def push(self, payload: Any, ctx: Context) -> Value:
        ctx.state["items"].append(payload["item"])
        if payload.get("fail"):
            raise RuntimeError("boom after mutating")
        if payload.get("bad_request"):
            raise BadRequest("refused")
        return Value().response(len(ctx.state["items"]))

    @action
    async def noop(self, ctx: Context) -> Value:
        return Value().response("ok")

    @action
    async def unserialisable(self, ctx: Context) -> Value:
        return Value().state({"x": object()})

    @action
    async def wrong_return(self, ctx: Context) -> Any:
        return {"not": "a Value"}


def make(
    clock: FakeClock,
    *classes: type,
    store: MemoryStore | None = None,
    node_id: str = "n1",
    key: bytes = b"k" * 32,
) -> tuple[Runtime, MemoryStore]:
    raw = store or MemoryStore(clock=clock)
    types = SystemTypes.build(SYS, [ActorType.from_class(c) for c in classes])
    rt = Runtime(
        node_id=node_id,
        store=EncryptedStore(raw, Keyring(key)),
        systems={SYS: types},
        clock=clock,
        lease_s=10.0,
    )
    return rt, raw


async def test_seed_incrementor_counts(clock: FakeClock) -> None:
    rt, _ = make(clock, Incrementor)
    assert await rt.invoke(SYS, "incrementor", "add", {"value": 1}) == {"total": 1}
    assert await rt.invoke(SYS, "incrementor", "add", {"value": 1}) == {"total": 2}


async def test_hundred_concurrent_adds_are_serialised(clock: FakeClock) -> None:
    rt, _ = make(clock, Slow)
    replies = await asyncio.gather(
        *(rt.invoke(SYS, "slow", "add", {"value": 1}) for _ in range(100))
    )
    assert sorted(replies) == list(range(1, 101))  # each turn saw the previous one's state
    state = await rt.invoke(SYS, "slow", "get_state")
    assert state["total"] == 100 and len(state["log"]) == 100


async def test_concurrent_first_calls_give_one_activation(clock: FakeClock) -> None:
    Slow.inits = 0
    rt, _ = make(clock, Slow)
    await asyncio.gather(*(rt.invoke(SYS, "slow", "add", {"value": 1}) for _ in range(20)))
    assert Slow.inits == 1
    assert len(rt.active) == 1
    assert rt.metrics.activations[(SYS, "slow")] == 1


async def test_turns_run_in_arrival_order(clock: FakeClock) -> None:
    rt, _ = make(clock, Slow)
    await asyncio.gather(*(rt.invoke(SYS, "slow", "add", {"value": i}) for i in range(1, 30)))
    state = await rt.invoke(SYS, "slow", "get_state")
    assert state["log"] == list(range(1, 30))


async def test_exception_rolls_back_in_place_mutation(clock: FakeClock) -> None:
    rt, _ = make(clock, Mutator)
    assert await rt.invoke(SYS, "mutator", "push", {"item": "a"}) == 1
    with pytest.raises(ActionFailed, match="RuntimeError: boom after mutating"):
        await rt.invoke(SYS, "mutator", "push", {"item": "b", "fail": True})
    with pytest.raises(BadRequest, match="refused"):
        await rt.invoke(SYS, "mutator", "push", {"item": "c", "bad_request": True})
    assert await rt.invoke(SYS, "mutator", "get_state") == {"items": ["a"]}
    assert await rt.invoke(SYS, "mutator", "push", {"item": "d"}) == 2


async def test_unencodable_state_and_wrong_return_fail_and_roll_back(clock: FakeClock) -> None:
    rt, _ = make(clock, Mutator)
    await rt.invoke(SYS, "mutator", "push", {"item": "a"})
    with pytest.raises(ActionFailed, match="cannot be encoded"):
        await rt.invoke(SYS, "mutator", "unserialisable")
    with pytest.raises(ActionFailed, match="returned dict"):
        await rt.invoke(SYS, "mutator", "wrong_return")
    assert await rt.invoke(SYS, "mutator", "get_state") == {"items": ["a"]}


async def test_get_state_returns_a_copy(clock: FakeClock) -> None:
    rt, _ = make(clock, Mutator)
    await rt.invoke(SYS, "mutator", "push", {"item": "a"})
    copy = await rt.invoke(SYS, "mutator", "get_state")
    copy["items"].append("sneaky")
    assert await rt.invoke(SYS, "mutator", "get_state") == {"items": ["a"]}


async def test_unknown_actor_and_action(clock: FakeClock) -> None:
    rt, raw = make(clock, Incrementor, Counter)
    with pytest.raises(ActorNotFound):
        await rt.invoke(SYS, "nobody", "add", {"value": 1})
    with pytest.raises(ActorNotFound, match="no unnamed actor template 'ghost'"):
        await rt.invoke(SYS, "c1", "add", {"value": 1}, parent="ghost")
    with pytest.raises(ActionNotFound):
        await rt.invoke(SYS, "incrementor", "fly", {})
    assert not rt.active  # nothing was activated for bad input
    assert await raw.read(ActorKey(SYS, "nobody")) is None


async def test_idle_deactivation_is_reset_by_every_call(clock: FakeClock) -> None:
    rt, raw = make(clock, Tally)
    await rt.invoke(SYS, "t1", "add", {"value": 1}, parent="tally")
    for _ in range(5):  # keep it busy past several timeouts
        clock.advance(20.0)
        assert await rt.reap_idle() == 0
        await rt.invoke(SYS, "t1", "add", {"value": 1}, parent="tally")
    assert len(rt.active) == 1
    clock.advance(29.0)
    assert await rt.reap_idle() == 0
    clock.advance(1.5)
    assert await rt.reap_idle() == 1
    assert not rt.active
    row = await raw.read(ActorKey(SYS, "t1"))
    assert row is not None and row.owner is None  # lease released
    # the state was flushed on deactivation: a new activation finds it
    assert await rt.invoke(SYS, "t1", "get", parent="tally") == {"total": 6}


async def test_snapshot_writes_only_changed_state(clock: FakeClock) -> None:
    rt, raw = make(clock, Tally)
    await rt.invoke(SYS, "t1", "add", {"value": 1}, parent="tally")
    assert raw.writes == 0  # write-behind: nothing yet
    clock.advance(10.0)
    assert await rt.snapshot_due() == 1
    assert raw.writes == 1
    await rt.invoke(SYS, "t1", "get", parent="tally")  # reads do not dirty
    await rt.invoke(SYS, "t1", "add", {"value": 0}, parent="tally")  # same state: not dirty
    clock.advance(10.0)
    assert await rt.snapshot_due() == 0
    assert raw.writes == 1
    await rt.invoke(SYS, "t1", "add", {"value": 2}, parent="tally")
    clock.advance(9.0)
    assert await rt.snapshot_due() == 0  # not yet due
    clock.advance(1.0)
    assert await rt.snapshot_due() == 1
    assert raw.writes == 2


async def test_sync_durability_persists_before_the_reply(clock: FakeClock) -> None:
    rt, raw = make(clock, Counter)
    assert await rt.invoke(SYS, "c1", "add", {"value": 3}, parent="counter") == {"total": 3}
    row = await EncryptedStore(raw, Keyring(b"k" * 32)).read(ActorKey(SYS, "c1"))
    assert row is not None and row.data == b'{"total":3}'
    assert row.revision == 1


async def test_sync_write_to_a_dead_store_fails_and_rolls_back(clock: FakeClock) -> None:
    rt, raw = make(clock, Counter)
    await rt.invoke(SYS, "c1", "add", {"value": 1}, parent="counter")
    raw.down = True
    with pytest.raises(Exception, match="marked down"):
        await rt.invoke(SYS, "c1", "add", {"value": 1}, parent="counter")
    raw.down = False
    assert await rt.invoke(SYS, "c1", "get", parent="counter") == {"total": 1}


async def test_state_survives_flush_and_a_new_runtime(clock: FakeClock) -> None:
    rt, raw = make(clock, Incrementor, Counter)
    await rt.invoke(SYS, "incrementor", "add", {"value": 5})
    await rt.invoke(SYS, "c9", "add", {"value": 2}, parent="counter")
    assert await rt.flush_all() == 2
    rt2, _ = make(clock, Incrementor, Counter, store=raw, node_id="n2")
    assert await rt2.invoke(SYS, "incrementor", "get_state") == {"total": 5}
    assert await rt2.invoke(SYS, "c9", "get", parent="counter") == {"total": 2}


async def test_spawned_instance_is_found_without_parent(clock: FakeClock) -> None:
    rt, raw = make(clock, Counter)
    await raw.register(ActorKey(SYS, "spawned"), "counter")
    assert await rt.invoke(SYS, "spawned", "add", {"value": 4}) == {"total": 4}


async def test_lost_lease_drops_activation_and_refuses_the_write(clock: FakeClock) -> None:
    raw = MemoryStore(clock=clock)
    rt1, _ = make(clock, Counter, store=raw, node_id="n1")
    await rt1.invoke(SYS, "c1", "add", {"value": 1}, parent="counter")
    # n2 takes the lease over (as if n1 had been declared failed)
    stolen = await raw.acquire(ActorKey(SYS, "c1"), "n2", 10.0, steal_from={"n1"})
    await raw.write("n2", [WriteItem(ActorKey(SYS, "c1"), stolen.data or b"", 1)], 10.0)
    with pytest.raises(StateConflict):
        await rt1.invoke(SYS, "c1", "add", {"value": 1}, parent="counter")
    assert ActorKey(SYS, "c1") not in rt1.active


async def test_renewal_drops_activations_whose_lease_was_taken(clock: FakeClock) -> None:
    raw = MemoryStore(clock=clock)
    rt1, _ = make(clock, Incrementor, store=raw)
    await rt1.invoke(SYS, "incrementor", "add", {"value": 1})
    await raw.acquire(ActorKey(SYS, "incrementor"), "n2", 10.0, steal_from={"n1"})
    assert await rt1.renew_leases() == 1
    assert not rt1.active


async def test_waiters_are_told_to_route_again_when_the_activation_closes(
    clock: FakeClock,
) -> None:
    rt, _ = make(clock, Slow)
    await rt.invoke(SYS, "slow", "add", {"value": 1})
    act = rt.active[ActorKey(SYS, "slow")]
    act.busy = True  # a turn is running
    waiting = asyncio.ensure_future(rt.invoke(SYS, "slow", "add", {"value": 1}))
    await until(lambda: act.queued == 1)
    handoff = asyncio.ensure_future(rt.deactivate([act], "handoff"))
    await until(lambda: act.queued == 2)  # both queued: the handoff jumped ahead of the waiter
    act.end_turn()  # the running turn finishes; the handoff goes next, before the waiter
    assert await handoff == 1
    with pytest.raises(NotOwner, match="handoff"):
        await waiting


async def test_overlapping_deactivations_do_not_deadlock(clock: FakeClock) -> None:
    """Two handoffs of overlapping sets while turns run: no holding one turn while waiting for
    another, so both finish."""
    rt2, _ = make(clock, Tally)
    for i in range(4):
        await rt2.invoke(SYS, f"t{i}", "add", {"value": 1}, parent="tally")
    acts = list(rt2.active.values())
    acts[0].busy = acts[2].busy = True  # two turns are running
    first = asyncio.ensure_future(rt2.deactivate(acts[:3], "handoff"))
    second = asyncio.ensure_future(rt2.deactivate(acts[1:], "drain"))
    # both wait on the running turns (acts[2] is in both sets) while the idle ones are done
    await until(lambda: acts[0].queued == 1 and acts[2].queued == 2)
    await until(lambda: acts[1].closed and acts[3].closed)
    assert not first.done() and not second.done()
    acts[0].end_turn()
    acts[2].end_turn()
    async with asyncio.timeout(5):
        done = await first + await second
    assert done == 4 and not rt2.active


class Caller(Actor):
    """Calls another actor from inside its turn."""

    name = "caller"

    @action
    async def relay(self, payload: dict[str, Any], ctx: Context) -> Value:
        reply = await ctx.invoke(payload["to"], "add", {"value": 1}, parent="tally")
        return Value().response(reply)


class GatedTally(Actor):
    """A counter whose `add` can be held open: `gate` set lets it finish, `entered` says it
    started. (Patching `Tally.add` would not do: a type captures its actions when it is built.)"""

    name = "tally"
    kind = "unnamed"
    gate: asyncio.Event
    entered: asyncio.Event

    @action
    async def add(self, payload: dict[str, Any], ctx: Context) -> Value:
        if payload.get("hold"):
            GatedTally.entered.set()
            await GatedTally.gate.wait()
        total = (ctx.state or {}).get("total", 0) + payload["value"]
        return Value().state({"total": total}).response({"total": total})


async def test_handoff_while_a_turn_calls_another_actor(clock: FakeClock) -> None:
    from roost.placement.router import Router

    GatedTally.gate, GatedTally.entered = asyncio.Event(), asyncio.Event()
    rt, _ = make(clock, Caller, GatedTally)
    rt.invoker = Router("n1", rt, clock=clock)
    await rt.invoke(SYS, "t1", "add", {"value": 1}, parent="tally")
    # t1's turn is held open; the caller's turn then waits on t1's mailbox
    held = {"value": 1, "hold": True}
    busy = asyncio.ensure_future(rt.invoke(SYS, "t1", "add", held, parent="tally"))
    await GatedTally.entered.wait()
    t1 = rt.active[ActorKey(SYS, "t1")]
    relay = asyncio.ensure_future(rt.invoke(SYS, "caller", "relay", {"to": "t1"}))
    await until(lambda: t1.queued == 1)  # the caller's turn waits in t1's mailbox
    caller = rt.active[ActorKey(SYS, "caller")]
    handoff = asyncio.ensure_future(rt.deactivate(list(rt.active.values()), "handoff"))
    await until(lambda: t1.queued == 2 and caller.queued == 1)  # the handoff waits on both
    assert not (busy.done() or relay.done() or handoff.done())
    GatedTally.gate.set()
    async with asyncio.timeout(5):
        assert await busy == {"total": 2}
        assert await handoff >= 1
        # the relayed call waited on t1's mailbox, was routed again after the handoff, and
        # found every update: nothing deadlocked, nothing was lost
        assert await relay == {"total": 3}


class _SlowWrites:
    """A store whose writes wait for a gate: a write can be caught "under way"."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(self, *args: Any, **kwargs: Any) -> Any:
        self.started.set()
        await self.gate.wait()
        return await self.inner.write(*args, **kwargs)


async def test_a_cancelled_caller_cannot_cut_a_sync_write_in_half(clock: FakeClock) -> None:
    raw = MemoryStore(clock=clock)
    slow = _SlowWrites(EncryptedStore(raw, Keyring(b"k" * 32)))
    types = SystemTypes.build(SYS, [ActorType.from_class(Counter)])
    rt = Runtime(node_id="n1", store=slow, systems={SYS: types}, clock=clock)  # type: ignore[arg-type]
    slow.gate.set()
    await rt.invoke(SYS, "c1", "add", {"value": 1}, parent="counter")
    slow.gate.clear()
    slow.started.clear()
    call = asyncio.ensure_future(rt.invoke(SYS, "c1", "add", {"value": 1}, parent="counter"))
    await slow.started.wait()  # the write is under way...
    call.cancel()  # ...when the caller goes away (deadline, hung-up client)
    with pytest.raises(asyncio.CancelledError):
        await call
    act = rt.active[ActorKey(SYS, "c1")]
    queued = asyncio.ensure_future(rt.invoke(SYS, "c1", "get", parent="counter"))
    await until(lambda: act.queued == 1)
    assert not queued.done()  # the write still owns the turn
    slow.gate.set()
    assert await queued == {"total": 2}  # it landed, and it is kept
    row = await EncryptedStore(raw, Keyring(b"k" * 32)).read(ActorKey(SYS, "c1"))
    assert row is not None and row.data == b'{"total":2}' and row.revision == 2


class BrokenInit(Actor):
    name = "broken-init"

    @action(init=True)
    async def init(self, ctx: Context) -> Value:
        raise RuntimeError("init fails")


async def test_a_lease_release_that_fails_is_logged_not_swallowed(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An activation whose init raised gives its lease back; when the store refuses that too,
    the caller still gets the init's error and the log says the lease will run out by itself."""
    from roost.errors import StoreUnavailable

    rt, raw = make(clock, BrokenInit)

    async def refuse(*args: Any, **kw: Any) -> None:
        raise StoreUnavailable("the database went away")

    raw.release = refuse  # type: ignore[method-assign]
    with caplog.at_level("WARNING", logger="roost.runtime"), pytest.raises(ActionFailed):
        await rt.invoke(SYS, "broken-init", "get_state")
    warned = [r.getMessage() for r in caplog.records if "could not release" in r.getMessage()]
    assert len(warned) == 1 and "broken-init" in warned[0] and "went away" in warned[0]
