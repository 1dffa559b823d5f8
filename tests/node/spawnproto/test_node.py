"""The protocol on a real node (loopback ports, SQLite) with a fake actor host beside it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf import any_pb2

from examples.counters import Incrementor
from roost import Actor, Context, Value, action
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.wire import JSON_TYPE_1X, JSON_TYPE_2X, any_to_json, json_to_any
from tests.conftest import free_port
from tests.node.spawnproto.fakehost import OCTET, FakeHost
from tests.node.spawnproto.messages import CUSTOM

SYSTEM = "spawn-system"


class Relay(Actor):
    name = "relay"

    @action
    async def call_js(self, payload: dict[str, Any], ctx: Context) -> Value:
        reply = await ctx.invoke(
            "js-counter", payload["action"], payload.get("payload"), metadata={"via": "relay"}
        )
        return Value().response(reply)

    @action
    async def to_js(self, payload: dict[str, Any], ctx: Context) -> Value:
        return Value().response({"value": payload["value"]}).pipe("js-counter", "add")

    @action
    async def whoami(self, payload: Any, ctx: Context) -> Value:
        caller = [ctx.caller.name, ctx.caller.system] if ctx.caller else None
        return Value().response(
            {"caller": caller, "metadata": dict(ctx.metadata), "payload": payload}
        )


def _config(tmp: Path, key: str) -> NodeConfig:
    return NodeConfig(
        node_id="proto-test",
        http=f"127.0.0.1:{free_port()}",
        proxy_http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp}/roost.db",
        statestore_key=key,
        request_timeout=5.0,
    )


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    n = Node(_config(tmp_path, key), actor_classes=[Incrementor, Relay])
    await n.start()
    yield n
    await n.drain()


@pytest.fixture
async def host(node: Node) -> AsyncIterator[FakeHost]:
    h = FakeHost()
    h.node_proxy = proxy(node)
    await h.start()
    yield h
    await h.stop()


def proxy(node: Node) -> str:
    return f"http://{node.config.proxy_http}"


def http(node: Node) -> str:
    return f"http://{node.config.http}"


async def invoke(
    node: Node,
    actor: str,
    action: str,
    payload: Any = None,
    *,
    value: any_pb2.Any | None = None,
    **fields: Any,
) -> tuple[int, P.InvocationResponse, Any]:
    q = P.InvocationRequest(action_name=action, **fields)
    q.system.name = SYSTEM
    q.actor.id.name, q.actor.id.system = actor, SYSTEM
    if value is not None:
        q.value.CopyFrom(value)
    elif payload is not None:
        q.value.CopyFrom(json_to_any(payload, JSON_TYPE_1X))
    return await post(f"{proxy(node)}/api/v1/system/{SYSTEM}/actors/{actor}/invoke", q)


async def post(url: str, msg: Any) -> tuple[int, P.InvocationResponse, Any]:
    body = msg if isinstance(msg, bytes) else msg.SerializeToString()
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=OCTET) as r:
        out = P.InvocationResponse()
        out.ParseFromString(await r.read())
        return r.status, out, r.headers


async def json_call(node: Node, actor: str, action: str, payload: Any = None) -> tuple[int, Any]:
    url = f"{http(node)}/v1/systems/{SYSTEM}/actors/{actor}/actions/{action}"
    async with aiohttp.ClientSession() as s, s.post(url, json=payload) as r:
        return r.status, await r.json()


async def test_register_then_invoke_through_both_apis(node: Node, host: FakeHost) -> None:
    status, resp = await host.register(proxy(node), host.registration())
    assert status == 200 and resp.status.status == P.OK and resp.status.message == "Accepted"
    assert resp.proxy_info.proxy_name == "roost"
    status, out, _ = await invoke(node, "js-counter", "add", {"value": 5})
    assert status == 200 and out.status.status == P.OK
    assert out.value.type_url == JSON_TYPE_1X and any_to_json(out.value) == {"total": 5}
    assert await json_call(node, "js-counter", "add", {"value": 1}) == (200, {"total": 6})
    state = f"{http(node)}/v1/systems/{SYSTEM}/actors/js-counter/state"
    async with aiohttp.ClientSession() as s, s.get(state) as r:
        assert await r.json() == {"total": 6, "inits": 1}  # answered by the node
    assert [c.action_name for c in host.calls] == ["init", "add", "add"]
    first = host.calls[0]
    assert first.actor.system == SYSTEM and first.actor.name == "js-counter"


async def test_a_2x_host_reads_and_writes_the_2x_spelling(node: Node) -> None:
    host = FakeHost(JSON_TYPE_2X)
    await host.start()
    try:
        await host.register(proxy(node), host.registration(major=2))
        code, echo = await json_call(node, "js-counter", "echo", {"x": 1})
        assert code == 200 and echo["payload"] == {"x": 1}
        assert echo["payload_url"] == JSON_TYPE_2X and echo["state_url"] == JSON_TYPE_2X
        status, out, _ = await invoke(node, "js-counter", "echo")  # no payload: host's spelling
        assert status == 200 and out.value.type_url == JSON_TYPE_2X
    finally:
        await host.stop()


async def test_other_any_types_come_back_byte_for_byte(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration())
    status, out, _ = await invoke(node, "js-counter", "custom", value=CUSTOM)
    assert status == 200 and out.value == CUSTOM
    assert host.calls[-1].value == CUSTOM  # the caller's Any reached the host untouched
    await invoke(node, "js-counter", "echo")
    assert host.calls[-1].current_context.state == CUSTOM  # and so did the stored state


async def test_failed_action_is_500_and_changes_nothing(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration())
    await invoke(node, "js-counter", "add", {"value": 2})
    status, out, _ = await invoke(node, "js-counter", "fail")
    assert status == 500 and out.status.status == P.ERROR
    assert "HTTP 400" in out.status.message
    code, body = await json_call(node, "js-counter", "fail")
    assert code == 500 and body["error"]["code"] == "action_failed"
    assert await json_call(node, "js-counter", "add", {"value": 1}) == (200, {"total": 3})


@pytest.mark.parametrize("path", ["/api/v1/system", "/api/v1/system/s/actors/spawn",
                                  "/api/v1/system/s/actors/a/invoke"])  # fmt: skip
async def test_malformed_protobuf_is_400(node: Node, path: str) -> None:
    status, out, _ = await post(proxy(node) + path, b"\xff\xff\xff not protobuf")
    assert status == 400 and out.status.status == P.ERROR
    assert "protobuf" in out.status.message


async def test_unknown_actor_is_actor_not_found(node: Node) -> None:
    status, out, _ = await invoke(node, "nobody", "add", {"value": 1})
    assert status == 404 and out.status.status == P.ACTOR_NOT_FOUND


async def test_a_dead_host_is_503_at_once(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration())
    await invoke(node, "js-counter", "add", {"value": 1})
    await host.stop()
    t0 = time.monotonic()
    status, out, headers = await invoke(node, "js-counter", "add", {"value": 1})
    assert status == 503 and out.status.status == P.ERROR and "Retry-After" in headers
    code, body = await json_call(node, "js-counter", "add", {"value": 1})
    assert code == 503 and body["error"]["code"] == "unavailable"
    assert time.monotonic() - t0 < 3.0
    await host.start()  # back: the health check marks it up again
    for _ in range(50):
        code, body = await json_call(node, "js-counter", "add", {"value": 1})
        if code == 200:
            break
        await asyncio.sleep(0.1)
    assert body == {"total": 2}


async def test_python_and_host_actors_call_each_other(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration())
    code, echo = await json_call(node, "relay", "call_js", {"action": "echo", "payload": {"n": 1}})
    assert code == 200, echo
    assert echo["caller"] == ["relay", SYSTEM] and echo["metadata"] == {"via": "relay"}
    assert echo["payload"] == {"n": 1} and echo["self"] == ["js-counter", SYSTEM, ""]
    code, back = await json_call(
        node,
        "js-counter",
        "call_python",
        {"actor": "relay", "action": "whoami", "payload": {"k": "v"}},
    )
    assert code == 200, back
    assert back["url"] == JSON_TYPE_1X
    assert back["reply"] == {
        "caller": ["js-counter", SYSTEM], "metadata": {"from": "js"}, "payload": {"k": "v"},
    }  # fmt: skip


async def test_tags_are_replaced_and_kept(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration())
    await invoke(node, "js-counter", "echo")
    _status, out, _ = await invoke(node, "js-counter", "echo")
    assert any_to_json(out.value)["tags"] == {"seen": str(len(host.calls) - 1)}


async def test_a_host_cannot_take_a_python_actor_name(node: Node, host: FakeHost) -> None:
    reg = host.registration()
    reg.actor_system.registry.actors["incrementor"].id.name = "incrementor"
    status, resp = await host.register(proxy(node), reg)
    assert status == 400 and resp.status.status == P.ERROR
    assert "incrementor" in resp.status.message


async def test_spawn_an_unnamed_host_actor(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration(unnamed=True))
    req = P.SpawnRequest()
    req.actors.add(name="c1", system=SYSTEM, parent="js-counter")
    async with aiohttp.ClientSession() as s, s.post(
        f"{proxy(node)}/api/v1/system/{SYSTEM}/actors/spawn",
        data=req.SerializeToString(), headers=OCTET,
    ) as r:  # fmt: skip
        out = P.SpawnResponse()
        out.ParseFromString(await r.read())
        assert r.status == 200 and out.status.status == P.OK
    status, resp, _ = await invoke(node, "c1", "echo")
    assert status == 200, resp
    assert any_to_json(resp.value)["self"] == ["c1", SYSTEM, "js-counter"]


async def test_async_invocation_answers_at_once(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration())
    q: dict[str, Any] = {"async": True}
    status, out, _ = await invoke(node, "js-counter", "add", {"value": 4}, **q)
    # as Spawn's proxy answers it (`:async -> nil`): no payload at all, so SDKs return null
    assert status == 200 and out.status.status == P.OK and out.WhichOneof("payload") is None
    for _ in range(50):
        if await json_call(node, "js-counter", "get") == (200, {"total": 4, "inits": 1}):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the async invocation never ran")


async def test_registration_and_state_survive_a_restart(tmp_path: Path, key: str) -> None:
    host = FakeHost()
    await host.start()
    try:
        cfg = _config(tmp_path, key)
        first = Node(cfg, actor_classes=[Incrementor])
        await first.start()
        await host.register(proxy(first), host.registration())
        assert await json_call(first, "js-counter", "add", {"value": 7}) == (200, {"total": 7})
        assert await first.drain() == 0
        second = Node(cfg, actor_classes=[Incrementor])
        await second.start()
        try:
            assert await json_call(second, "js-counter", "add", {"value": 1}) == (200, {"total": 8})
        finally:
            await second.drain()
    finally:
        await host.stop()


async def test_pipes_between_python_and_host_actors(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration())
    assert await json_call(node, "relay", "to_js", {"value": 3}) == (200, {"total": 3})
    assert host.calls[-1].caller.name == "relay"  # the pipe's target sees who piped to it
    assert await json_call(node, "js-counter", "pipe", {"value": 2}) == (200, {"total": 2})
    assert await json_call(node, "incrementor", "get_state") == (200, {"total": 2})


async def test_scheduled_invocation_is_kept_and_fired_later(node: Node, host: FakeHost) -> None:
    await host.register(proxy(node), host.registration())
    due = int(time.time() * 1000) + 300
    status, out, _ = await invoke(node, "js-counter", "add", {"value": 9}, scheduled_to=due)
    assert status == 200 and out.WhichOneof("payload") is None  # answered now, like async
    assert not [c for c in host.calls if c.action_name == "add"]
    for _ in range(100):
        if await json_call(node, "js-counter", "get") == (200, {"total": 9, "inits": 1}):
            assert time.time() * 1000 >= due
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the scheduled invocation never ran")


async def test_a_registration_for_a_system_nobody_hosts_is_refused(node: Node) -> None:
    host = FakeHost(system="elsewhere")
    status, resp = await host.register(proxy(node), host.registration())
    assert status == 404 and resp.status.status == P.ACTOR_NOT_FOUND
    assert "elsewhere" in resp.status.message
