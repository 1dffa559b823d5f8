"""Warm-up: each owner activates its named actors without waiting for a call (Spawn's
`warmup_actors`), and again whenever it gains them."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import roost
from roost import Actor, Channel, Context, Timer, Value, action
from roost.errors import LeaseHeld
from roost.runtime.types import SystemTypes
from roost.runtime.warmup import Warmup, warmable
from roost.sdk.actor import ActorType
from roost.statestore.base import ActorKey


class Named(Actor):
    name = "named"

    @action
    async def get(self, ctx: Context) -> Value:
        return Value().response(ctx.state)


class Template(Actor):
    name = "template"
    kind = "unnamed"

    @action
    async def get(self, ctx: Context) -> Value:
        return Value()


class Pool(Actor):
    name = "pool"
    kind = "pooled"

    @action
    async def get(self, ctx: Context) -> Value:
        return Value()


def types(*classes: type) -> list[ActorType]:
    return [ActorType.from_class(c) for c in classes]


def test_named_stateful_or_subscribed_actors_are_warmable() -> None:
    named, template, pool = types(Named, Template, Pool)
    assert warmable(named) and not warmable(template) and not warmable(pool)
    stateless = dataclasses.replace(named, extra={"stateful": False})  # a host's stateful=false
    assert not warmable(stateless)
    listening = dataclasses.replace(stateless, channels=(Channel("news"),))
    assert warmable(listening)  # Spawn warms a subscriber even when it keeps no state


class Fake:
    """Ownership, activations and the store's lease answers, as the warm-up sees them."""

    def __init__(self, names: list[str]) -> None:
        named = [dataclasses.replace(types(Named)[0], name=n) for n in names]
        self.systems = {"s": SystemTypes.build("s", [*named, *types(Template, Pool)])}
        self.mine = set(names)
        self.held: set[str] = set()  # leases another node still holds
        self.active: dict[ActorKey, object] = {}
        self.activations: list[str] = []

    def owns(self, system: str, actor: str) -> bool:
        return actor in self.mine

    async def activate(self, system: str, actor: str) -> bool:
        if actor in self.held:
            raise LeaseHeld("elsewhere", holder="node-x")
        self.activations.append(actor)
        self.active[ActorKey(system, actor)] = object()
        return True

    def warmup(self) -> Warmup:
        return Warmup(systems=self.systems, owns=self.owns, active=self.active,
                      activate=self.activate)  # fmt: skip


async def test_each_owned_named_actor_is_warmed_once() -> None:
    f = Fake(["a", "b", "c"])
    f.mine = {"a", "b"}  # c is another node's
    w = f.warmup()
    assert await w.sweep() == 2 and sorted(f.activations) == ["a", "b"]
    assert await w.sweep() == 0  # warmed already
    del f.active[ActorKey("s", "a")]  # idle deactivation afterwards is respected...
    assert await w.sweep() == 0 and len(f.activations) == 2


async def test_a_lease_still_held_elsewhere_is_retried_at_the_next_sweep() -> None:
    f = Fake(["a"])
    f.held = {"a"}  # the old owner has not released it yet (handoff, or a crashed node)
    w = f.warmup()
    assert await w.sweep() == 0
    f.held = set()
    assert await w.sweep() == 1 and f.activations == ["a"]


async def test_gaining_an_actor_again_warms_it_again() -> None:
    f = Fake(["a"])
    w = f.warmup()
    assert await w.sweep() == 1
    f.mine = set()  # handed off to another node
    f.active.clear()
    assert await w.sweep() == 0
    f.mine = {"a"}  # and back (a ring change, a crash of its other owner)
    assert await w.sweep() == 1 and f.activations == ["a", "a"]


async def test_registering_types_again_warms_again() -> None:
    f = Fake(["a"])
    w = f.warmup()
    assert await w.sweep() == 1
    f.active.clear()
    w.registered("other", ["a"])
    w.registered("s", ["b"])  # another type of the system: a stays as it is
    assert await w.sweep() == 0
    w.registered("s", ["a"])
    assert await w.sweep() == 1


async def test_an_actor_called_before_the_sweep_is_not_activated_twice() -> None:
    f = Fake(["a"])
    f.active[ActorKey("s", "a")] = object()
    assert await f.warmup().sweep() == 0 and f.activations == []


TICKED = asyncio.Event()


class Clock(Actor):
    name = "clock"
    timers = (Timer("tick", every_ms=10),)

    @action
    async def tick(self, ctx: Context) -> Value:
        TICKED.set()
        return Value().state({"ticks": (ctx.state or {}).get("ticks", 0) + 1})


async def test_a_named_timer_actor_ticks_without_being_called() -> None:
    TICKED.clear()
    async with roost.ActorSystem("w", actors=[Clock]) as s:
        async with asyncio.timeout(10):
            await TICKED.wait()
        state: Any = await s.invoke("clock", "get_state")
        assert state["ticks"] >= 1
