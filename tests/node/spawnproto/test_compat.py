"""Spawn's proxy behaviours that SDKs rely on, on a real node with hosts speaking the wire as the
SDKs do: the current shape (Node SDK 1.2, Roost's SDK) and protocol 1.1 (Python SDK 0.1.2,
hand-built bytes). Warm-up of named actors, broadcasts to named subscribers, 1.1 channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from roost.node.node import Node
from roost.node.spawnproto import actor_pb2 as A
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.wire import any_to_json, json_to_any
from tests.node.spawnproto.fakehost import OCTET, FakeHost
from tests.node.spawnproto.messages import _ld, registration_1_1
from tests.node.spawnproto.test_node import _config, proxy

SYSTEM = "spawn-system"


class CompatHost(FakeHost):
    """`publish` broadcasts its payload on `news` (1.1 hosts name the action to run)."""

    def __init__(self, *, action_name: str = "") -> None:
        super().__init__()
        self.action_name = action_name

    async def _run(self, inv: P.ActorInvocation) -> P.ActorInvocationResponse:
        if inv.action_name != "publish":
            return await super()._run(inv)
        out = P.ActorInvocationResponse(actor_name=inv.actor.name, actor_system=inv.actor.system)
        out.updated_context.CopyFrom(inv.current_context)
        b = out.workflow.broadcast
        b.channel_group, b.action_name = "news", self.action_name
        b.value.CopyFrom(inv.value)
        out.noop.SetInParent()
        return out

    def got(self, actor: str, action: str) -> list[Any]:
        return [
            any_to_json(c.value) if c.WhichOneof("payload") == "value" else None
            for c in self.calls
            if c.actor.name == actor and c.action_name == action
        ]


def named(name: str, *actions: str) -> A.Actor:
    a = A.Actor()
    a.id.name, a.id.system = name, SYSTEM
    a.settings.kind, a.settings.stateful = A.NAMED, True
    for x in actions:
        a.actions.add(name=x)
    return a


def ticker() -> A.Actor:
    a = named("js-ticker", "tick")
    t = a.timer_actions.add(seconds=50)  # milliseconds, as Spawn schedules them
    t.action.name = "tick"
    return a


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    n = Node(_config(tmp_path, key), actor_classes=[])
    await n.start()
    yield n
    await n.drain()


async def register_raw(
    node: Node, host: FakeHost, body: bytes
) -> tuple[int, P.RegistrationResponse]:
    headers = {**OCTET, "X-Roost-Actor-Host-Port": str(host.port)}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{proxy(node)}/api/v1/system", data=body, headers=headers) as r,
    ):
        return r.status, P.RegistrationResponse.FromString(await r.read())


async def invoke(node: Node, actor: str, action: str, payload: Any) -> int:
    q = P.InvocationRequest(action_name=action)
    q.system.name = SYSTEM
    q.actor.id.name, q.actor.id.system = actor, SYSTEM
    q.value.CopyFrom(json_to_any(payload, "type.googleapis.com/eigr.functions.protocol.JSONType"))
    url = f"{proxy(node)}/api/v1/system/{SYSTEM}/actors/{actor}/invoke"
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, data=q.SerializeToString(), headers=OCTET) as r,
    ):
        return r.status


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)  # the host is another server: poll what it has seen


async def test_a_named_host_actors_timer_ticks_with_no_invocation(node: Node) -> None:
    host = CompatHost()
    await host.start()
    try:
        reg = host.registration()
        reg.actor_system.registry.actors["js-ticker"].CopyFrom(ticker())
        status, resp = await host.register(proxy(node), reg)
        assert status == 200 and resp.status.status == P.OK
        await until(lambda: len(host.got("js-ticker", "tick")) >= 3, "ticks")
    finally:
        await host.stop()


async def test_a_broadcast_reaches_an_idle_named_host_subscriber_once(node: Node) -> None:
    host = CompatHost()
    await host.start()
    try:
        reg = host.registration()
        listener = named("js-listener", "receive")
        listener.metadata.channel_group.add(topic="news", action="receive")
        reg.actor_system.registry.actors["js-listener"].CopyFrom(listener)
        reg.actor_system.registry.actors["js-publisher"].CopyFrom(named("js-publisher", "publish"))
        assert (await host.register(proxy(node), reg))[0] == 200
        rt = node.core.runtime
        await until(lambda: (SYSTEM, "js-listener") in rt.active, "warm-up")
        await rt.deactivate([rt.active[(SYSTEM, "js-listener")]], "idle")  # type: ignore[index]
        assert await invoke(node, "js-publisher", "publish", {"n": 1}) == 200
        await until(lambda: host.got("js-listener", "receive") != [], "delivery")
        await asyncio.gather(*rt.tasks)
        assert host.got("js-listener", "receive") == [{"n": 1}]
    finally:
        await host.stop()


async def test_a_1_1_registration_with_a_channel_string_is_served(node: Node) -> None:
    host = CompatHost(action_name="on_news")  # 1.1: the broadcast names the action
    await host.start()
    try:
        body = registration_1_1(
            SYSTEM,
            {
                "py-listener": (named("py-listener", "on_news"), "news"),
                "py-publisher": (named("py-publisher", "publish"), None),
                "js-ticker": (ticker(), None),
            },
        )
        status, resp = await register_raw(node, host, body)
        assert status == 200 and resp.status.status == P.OK, resp
        info = resp.proxy_info  # answered in the version the host spoke
        assert (info.protocol_major_version, info.protocol_minor_version) == (1, 1)
        assert await invoke(node, "py-publisher", "publish", {"n": 2}) == 200
        await until(lambda: host.got("py-listener", "on_news") != [], "delivery")
        assert host.got("py-listener", "on_news") == [{"n": 2}]
        await until(lambda: len(host.got("js-ticker", "tick")) >= 2, "ticks of a 1.1 host")
    finally:
        await host.stop()


async def test_a_registration_of_neither_shape_is_a_400_naming_the_field(node: Node) -> None:
    host = CompatHost()
    a = named("bad", "x").SerializeToString() + _ld(6, bytes([0x08, 0x01]))  # channel_group: 1
    registry = _ld(1, _ld(1, b"bad") + _ld(2, a))
    body = _ld(2, _ld(1, SYSTEM.encode()) + _ld(2, registry))
    status, resp = await register_raw(node, host, body)
    assert status == 400 and resp.status.status == P.ERROR
    assert "Metadata.channel_group" in resp.status.message and "'bad'" in resp.status.message
