"""Roost bugs the chaos harness found, each reproduced in-process and small, kept as regression
tests now that they are fixed (see chaos/RESULTS.md for how they showed up under faults)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roost import Actor, Context, Value, action
from roost.errors import LeaseHeld, NotOwner, StoreUnavailable, Unavailable
from roost.runtime import Runtime, SystemTypes
from roost.sdk.actor import ActorType
from roost.statestore import EncryptedStore, Keyring, MemoryStore
from tests.conftest import until


class Gated(Actor):
    name = "gated"
    kind = "unnamed"
    gate: asyncio.Event | None = None
    entered: asyncio.Event | None = None

    @action(init=True)
    async def init(self, ctx: Context) -> Value:
        return Value().state(ctx.state or {"n": 0})

    @action
    async def add(self, payload: Any, ctx: Context) -> Value:
        if payload.get("wait") and Gated.gate is not None:
            if Gated.entered is not None:
                Gated.entered.set()
            await Gated.gate.wait()
        return Value().state({"n": ctx.state["n"] + 1}).response(ctx.state["n"] + 1)


async def test_drain_and_concurrent_handoff_do_not_deadlock() -> None:
    """The race every time: b's turn is running, the drain is queued on b (having dealt with
    a), a handoff of both is queued too, and only then does b's turn end."""
    Gated.gate, Gated.entered = asyncio.Event(), asyncio.Event()
    types = SystemTypes.build("s", [ActorType.from_class(Gated)])
    rt = Runtime(
        node_id="n1",
        store=EncryptedStore(MemoryStore(), Keyring(b"k" * 32)),
        systems={"s": types},
        lease_s=10.0,
    )
    for a in ("a", "b"):
        await rt.invoke("s", a, "add", {}, parent="gated")
    acts = {k.actor: act for k, act in rt.active.items()}
    busy = asyncio.ensure_future(rt.invoke("s", "b", "add", {"wait": True}, parent="gated"))
    await Gated.entered.wait()  # b is in the middle of a turn
    drain = asyncio.ensure_future(rt.flush_all("drain"))  # Node._drain on SIGTERM
    await until(lambda: acts["b"].queued == 1)  # the drain waits for b's turn
    handoff = asyncio.ensure_future(rt.deactivate(list(acts.values()), "handoff"))
    # Placement.rebalance: the ring no longer has this node; the handoff waits on b as well
    await until(lambda: acts["b"].queued == 2 or handoff.done())
    assert not busy.done() and not drain.done()
    Gated.gate.set()  # b's turn ends and goes to the waiting deactivations
    try:
        await asyncio.wait_for(asyncio.gather(drain, handoff, busy), 3.0)
    finally:
        for t in (drain, handoff, busy):
            t.cancel()


class CutStore:
    """One node's path to the shared store, which a test can cut (every call then fails)."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("cut off from the statestore")
            return await method(*args, **kwargs)

        return call


@pytest.mark.parametrize(
    ("template", "action", "payload"),
    [("chaoslog-snap", "apply", {"op": 3}), ("chaoslog", "read", None)],
)
async def test_a_cut_off_owner_stops_answering_once_its_lease_may_have_lapsed(
    template: str, action: str, payload: Any
) -> None:
    """Found by chaos partition-minority: a node whose lease peers took (because gossip called
    it failed) kept answering snapshot turns and reads from memory, so two nodes acknowledged
    diverging histories. Now no node takes a lease before it expires, and a node stops serving
    once it cannot be sure its lease still holds."""
    from examples.chaoslog import ChaosLog, ChaosLogSnap
    from tests.conftest import FakeClock

    clock = FakeClock()
    types = SystemTypes.build("s", [ActorType.from_class(c) for c in (ChaosLog, ChaosLogSnap)])
    shared = MemoryStore(clock=clock)
    cut = CutStore(shared)

    def node(node_id: str, store: Any) -> Runtime:
        return Runtime(
            node_id=node_id, store=EncryptedStore(store, Keyring(b"k" * 32)),
            systems={"s": types}, lease_s=10.0, clock=clock,
        )  # fmt: skip

    n1, n2 = node("n1", cut), node("n2", shared)
    assert await n1.invoke("s", "x", "apply", {"op": 1}, parent=template) == {"ops": [1]}
    with pytest.raises(LeaseHeld):  # whatever gossip says, n1's lease still runs
        await n2.invoke("s", "x", "apply", {"op": 2}, parent=template)
    cut.down = True  # n1 is cut off: it cannot renew
    clock.advance(10.5)  # ...and its lease expires by the store's clock
    second = await n2.invoke("s", "x", "apply", {"op": 2}, parent=template)
    assert second["ops"][-1] == 2
    with pytest.raises(Unavailable):  # n1 must not answer from memory any more
        await n1.invoke("s", "x", action, payload, parent=template)
    cut.down = False  # back in touch: it steps down instead of serving its stale copy
    with pytest.raises(NotOwner):
        await n1.invoke("s", "x", action, payload, parent=template)
    assert ("s", "x") not in n1.active


async def test_an_owner_that_keeps_renewing_keeps_serving() -> None:
    """The other side of the same rule: leases renewed in time are never in doubt."""
    from examples.chaoslog import ChaosLogSnap
    from tests.conftest import FakeClock

    clock = FakeClock()
    types = SystemTypes.build("s", [ActorType.from_class(ChaosLogSnap)])
    rt = Runtime(
        node_id="n1", store=EncryptedStore(MemoryStore(clock=clock), Keyring(b"k" * 32)),
        systems={"s": types}, lease_s=10.0, clock=clock,
    )  # fmt: skip
    for op in range(1, 8):
        clock.advance(3.0)
        await rt.renew_leases()
        assert (
            len((await rt.invoke("s", "x", "apply", {"op": op}, parent="chaoslog-snap"))["ops"])
            == op
        )
