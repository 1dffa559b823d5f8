"""Actor hosts over the Spawn protocol: a host's call into the mesh continues the trace named in
its `InvocationRequest.metadata`, and the host is handed the turn's context in
`ActorInvocation.current_context.metadata` (which Spawn SDKs pass through)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from roost.node.node import Node
from roost.node.spawnproto import protocol_pb2 as P
from roost.tracing import Tracing
from tests.node.spawnproto.fakehost import FakeHost
from tests.node.spawnproto.test_node import Relay, _config, invoke, proxy

TRACE = "5bf92f3577b34da6a3ce929d0e0e4736"
HOST_SPAN = "10f067aa0ba902b7"


@pytest.fixture
async def traced(tmp_path: Path, key: str) -> AsyncIterator[tuple[Node, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracing = Tracing.with_exporter("proto-test", exporter, batch=False)
    node = Node(_config(tmp_path, key), actor_classes=[Relay], tracing=tracing)
    await node.start()
    try:
        yield node, exporter
    finally:
        await node.drain()


async def test_host_calls_carry_the_trace_both_ways(
    traced: tuple[Node, InMemorySpanExporter],
) -> None:
    node, exporter = traced
    host = FakeHost()
    host.node_proxy = proxy(node)
    await host.start()
    try:
        status, _ = await host.register(proxy(node), host.registration())
        assert status == 200
        status, out, _ = await invoke(
            node, "js-counter", "add", {"value": 2},
            metadata={"traceparent": f"00-{TRACE}-{HOST_SPAN}-01", "user": "u1"},
        )  # fmt: skip
        assert status == 200 and out.status.status == P.OK
    finally:
        await host.stop()
    spans = exporter.get_finished_spans()
    (route,) = [s for s in spans if s.name == "roost.route add"]
    assert route.kind == SpanKind.SERVER and route.parent is not None
    assert f"{route.context.trace_id:032x}" == TRACE
    assert f"{route.parent.span_id:016x}" == HOST_SPAN and route.parent.is_remote
    (turn,) = [s for s in spans if s.name == "roost.turn js-counter.add"]
    assert turn.parent is not None and turn.parent.span_id == route.context.span_id
    # the host was told the turn's context, beside the caller's own metadata
    add = next(c for c in host.calls if c.action_name == "add")
    meta = dict(add.current_context.metadata)
    assert meta["user"] == "u1"
    _, trace_id, span_id, flags = meta["traceparent"].split("-")
    assert (trace_id, span_id, flags) == (TRACE, f"{turn.context.span_id:016x}", "01")
