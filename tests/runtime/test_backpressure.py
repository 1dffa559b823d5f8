"""Bounded mailboxes: a call that would queue past `max_mailbox` is refused at once with
`Overloaded`, the running turn and the queued ones finish normally, and the shed is counted.

Turns are held open with asyncio Events (see `gated`), so nothing here waits on the clock.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest

from roost import Actor, Context, Value, action
from roost.errors import ActionFailed, NotOwner, Overloaded
from roost.placement.router import Router
from roost.runtime import Runtime
from roost.sdk.actor import ActorDefinitionError, ActorType
from roost.statestore import ActorKey
from tests.conftest import FakeClock
from tests.runtime.test_turns import SYS, make


class Gates:
    """What a test holds turns open with: `entered[name]` is set once that actor's `hold` runs;
    every `hold` then waits for `release`."""

    def __init__(self) -> None:
        self.entered: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.release = asyncio.Event()


def gated(gates: Gates, *, max_mailbox: int = 1_000, kind: str = "named") -> type[Actor]:
    """An actor type `gated` whose `hold` turn stays open until the test releases it."""

    class Gated(Actor):
        name = "gated"

        @action
        async def hold(self, ctx: Context) -> Value:
            gates.entered[ctx.self.name].set()
            await gates.release.wait()
            n = (ctx.state or {}).get("n", 0) + 1
            return Value().state({"n": n}).response({"held": n})

        @action
        async def add(self, ctx: Context) -> Value:
            n = (ctx.state or {}).get("n", 0) + 1
            return Value().state({"n": n}).response({"n": n})

    Gated.kind = kind
    Gated.max_mailbox = max_mailbox
    return Gated


async def queued(rt: Runtime, n: int) -> None:
    """Let the tasks just started run until `n` calls wait in gated's mailbox."""
    async with asyncio.timeout(5):
        while sum(rt.mailbox_depths().values()) < n:
            await asyncio.sleep(0)


async def test_a_full_mailbox_refuses_at_once_and_the_running_turn_completes(
    clock: FakeClock,
) -> None:
    gates = Gates()
    rt, _ = make(clock, gated(gates, max_mailbox=2))
    running = asyncio.ensure_future(rt.invoke(SYS, "gated", "hold"))
    await gates.entered["gated"].wait()
    waiting = [asyncio.ensure_future(rt.invoke(SYS, "gated", "add")) for _ in range(2)]
    await queued(rt, 2)

    async with asyncio.timeout(1):  # unbounded, it would wait for the held turn: forever
        with pytest.raises(Overloaded, match="max_mailbox 2") as shed:
            await rt.invoke(SYS, "gated", "add")
    assert shed.value.status == 429 and shed.value.retry_after == 1.0
    assert not running.done() and not gates.release.is_set()

    gates.release.set()
    assert await running == {"held": 1}
    assert [await w for w in waiting] == [{"n": 2}, {"n": 3}]  # the shed call changed nothing
    assert await rt.invoke(SYS, "gated", "add") == {"n": 4}  # the mailbox is open again
    assert rt.metrics.shed == {(SYS, "gated", "mailbox"): 1}
    assert rt.metrics.invocations[(SYS, "gated", "add", "overloaded")] == 1


async def test_the_bound_is_per_actor(clock: FakeClock) -> None:
    gates = Gates()
    rt, _ = make(clock, gated(gates, max_mailbox=1, kind="unnamed"))
    running = asyncio.ensure_future(rt.invoke(SYS, "g1", "hold", parent="gated"))
    await gates.entered["g1"].wait()
    waiting = asyncio.ensure_future(rt.invoke(SYS, "g1", "add", parent="gated"))
    await queued(rt, 1)
    async with asyncio.timeout(1):
        with pytest.raises(Overloaded):
            await rt.invoke(SYS, "g1", "add", parent="gated")
    assert await rt.invoke(SYS, "g2", "add", parent="gated") == {"n": 1}  # another instance
    gates.release.set()
    assert (await running, await waiting) == ({"held": 1}, {"n": 2})
    assert rt.metrics.shed == {(SYS, "gated", "mailbox"): 1}  # labelled by type, not instance


async def test_a_handoff_jumps_a_full_mailbox_and_is_never_shed(clock: FakeClock) -> None:
    gates = Gates()
    rt, _ = make(clock, gated(gates, max_mailbox=1))
    running = asyncio.ensure_future(rt.invoke(SYS, "gated", "hold"))
    await gates.entered["gated"].wait()
    waiting = asyncio.ensure_future(rt.invoke(SYS, "gated", "add"))
    await queued(rt, 1)
    act = rt.active[ActorKey(SYS, "gated")]
    handoff = asyncio.ensure_future(rt.deactivate([act], "handoff"))
    await queued(rt, 2)  # queued past max_mailbox, ahead of the waiter
    gates.release.set()
    assert await running == {"held": 1}
    assert await handoff == 1
    with pytest.raises(NotOwner):  # the waiter is routed again, after the handoff
        await waiting
    assert rt.metrics.shed == {}


async def test_a_waiter_cancelled_at_its_deadline_frees_its_place(clock: FakeClock) -> None:
    gates = Gates()
    rt, _ = make(clock, gated(gates, max_mailbox=1))
    running = asyncio.ensure_future(rt.invoke(SYS, "gated", "hold"))
    await gates.entered["gated"].wait()
    late = asyncio.ensure_future(rt.invoke(SYS, "gated", "add"))
    await queued(rt, 1)
    late.cancel()  # what a 504 does to a call still waiting for its turn
    with pytest.raises(asyncio.CancelledError):
        await late
    waiting = asyncio.ensure_future(rt.invoke(SYS, "gated", "add"))  # not refused: room again
    await queued(rt, 1)
    gates.release.set()
    assert (await running, await waiting) == ({"held": 1}, {"n": 2})
    assert rt.metrics.shed == {}


class Relay(Actor):
    """Calls `gated` from inside its own turn."""

    name = "relay"

    @action
    async def poke(self, ctx: Context) -> Value:
        return Value().response(await ctx.invoke("gated", "add"))


async def test_a_nested_call_that_is_shed_fails_the_calling_action(clock: FakeClock) -> None:
    """Not a 429 to the caller: the turn may have made other calls that ran, and a 429 says
    nothing ran, so a client would send the whole call again and repeat them."""
    gates = Gates()
    rt, _ = make(clock, gated(gates, max_mailbox=1), Relay)
    rt.invoker = Router("n1", rt, clock=clock)
    running = asyncio.ensure_future(rt.invoke(SYS, "gated", "hold"))
    await gates.entered["gated"].wait()
    waiting = asyncio.ensure_future(rt.invoke(SYS, "gated", "add"))
    await queued(rt, 1)
    async with asyncio.timeout(1):
        with pytest.raises(ActionFailed, match="raised Overloaded"):
            await rt.invoke(SYS, "relay", "poke")
    gates.release.set()
    await asyncio.gather(running, waiting)
    assert await rt.invoke(SYS, "relay", "poke") == {"n": 3}


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10", None])
def test_max_mailbox_must_be_a_positive_integer(bad: Any) -> None:
    cls = gated(Gates())
    cls.max_mailbox = bad
    with pytest.raises(ActorDefinitionError, match="max_mailbox must be a positive integer"):
        ActorType.from_class(cls)


def test_max_mailbox_defaults_to_a_thousand_and_is_described() -> None:
    class Plain(Actor):
        name = "plain"

        @action
        async def noop(self, ctx: Context) -> None:
            return None

    t = ActorType.from_class(Plain)
    assert t.max_mailbox == 1_000
    assert ActorType.from_class(gated(Gates(), max_mailbox=7)).describe()["max_mailbox"] == 7
