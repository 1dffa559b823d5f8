"""A host's reply as a turn's `Value`, and how the node sends a turn to a host."""

from __future__ import annotations

import asyncio

from roost.node.spawnproto import actor_pb2 as A
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.external import to_value
from roost.node.spawnproto.hostclient import HostClient
from roost.node.spawnproto.wire import JSON_TYPE_1X, json_to_any
from roost.sdk.workflow import Pipe
from tests.conftest import free_port
from tests.node.spawnproto.messages import messages


def test_a_reply_becomes_state_tags_response_workflow_and_checkpoint() -> None:
    reply = messages(JSON_TYPE_1X)["ActorInvocationResponse"]
    old = A.ActorState()
    old.tags["team"] = "blue"
    v = to_value(reply, old, stateful=True, where="t")
    assert v.new_state.tags == {"team": "red"}
    assert v.new_state.state == json_to_any({"total": 6}, JSON_TYPE_1X)
    assert v.reply == {"total": 6} and v.wants_checkpoint
    (fx,) = v.effects
    assert (fx.actor, fx.action, fx.payload) == ("audit", "log", {"total": 6})
    assert fx.system == "spawn-system"
    assert v.broadcast_step is not None and v.broadcast_step.channel == "news"
    assert v.routing == Pipe("incrementor", "add")


def test_a_reply_without_context_keeps_the_state() -> None:
    old = A.ActorState()
    old.state.CopyFrom(json_to_any({"total": 1}, JSON_TYPE_1X))
    reply = P.ActorInvocationResponse()
    reply.noop.SetInParent()
    v = to_value(reply, old, stateful=True, where="t")
    assert v.new_state == old and v.reply is None and not v.wants_checkpoint
    assert to_value(reply, old, stateful=False, where="t").new_state is not old


async def test_the_invocation_goes_out_in_one_write_with_a_length() -> None:
    """Spawn's Node SDK decodes each chunk it receives on its own."""
    port = free_port()
    chunks: list[bytes] = []
    got = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunks.append(await reader.read(65536))
        got.set()
        body = P.ActorInvocationResponse().SerializeToString()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    client = HostClient()
    inv = messages(JSON_TYPE_1X)["ActorInvocation"]
    try:
        await client.call(f"http://127.0.0.1:{port}", inv, 5.0)
    finally:
        await client.close()
        server.close()
    await got.wait()
    head, _, body = chunks[0].partition(b"\r\n\r\n")
    assert body == inv.SerializeToString()
    assert b"content-length: %d" % len(body) in head.lower()
