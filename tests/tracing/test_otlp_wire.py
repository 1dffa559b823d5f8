"""What goes over the wire: a node exporting to a real OTLP/HTTP receiver (a small aiohttp server
here, decoding the protobuf `ExportTraceServiceRequest`s the collector would get)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from roost import Actor, Context, Value, action
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.tracing import from_config
from tests.conftest import free_port

SYS = "spawn-system"
TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


class Ledger(Actor):
    name = "ledger"
    durability = "sync"

    @action
    async def add(self, payload: int, ctx: Context) -> Value:
        return Value().state((ctx.state or 0) + payload).response((ctx.state or 0) + payload)

    @action
    async def fail(self, ctx: Context) -> Value:
        raise RuntimeError("ledger is closed")


class Receiver:
    """An OTLP/HTTP traces endpoint: keeps each decoded export request and how it came."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, ExportTraceServiceRequest]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = ExportTraceServiceRequest()
        body.ParseFromString(await request.read())
        self.requests.append((request.headers.get("Content-Type", ""), body))
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    def spans(self) -> list[tuple[dict[str, Any], Span]]:
        """(resource attributes, span) for every span received."""
        out = []
        for _, req in self.requests:
            for rs in req.resource_spans:
                res = attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    assert ss.scope.name == "roost"
                    out += [(res, s) for s in ss.spans]
        return out


def attrs(kvs: Any) -> dict[str, Any]:
    def value(kv: KeyValue) -> Any:
        v = kv.value
        return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None

    return {kv.key: value(kv) for kv in kvs}


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield rec, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_spans_over_otlp_http(
    tmp_path: Path, key: str, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, endpoint = receiver
    monkeypatch.setenv("OTEL_SERVICE_NAME", "roost-wire")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    # the flag's endpoint, batched export, the standard sampler: as `roost node` builds it
    tracing = from_config("w1", endpoint, {}, install_global=False)
    cfg = NodeConfig(
        node_id="w1", http=f"127.0.0.1:{free_port()}", statestore=f"sqlite:///{tmp_path}/w.db",
        statestore_key=key, proxy_http="off",
    )  # fmt: skip
    node = Node(cfg, actor_classes=[Ledger], tracing=tracing)
    await node.start()
    try:
        base = f"http://{cfg.http}/v1/systems/{SYS}/actors/ledger/actions"
        headers = {"traceparent": f"00-{TRACE}-{CLIENT_SPAN}-01", "X-Request-Id": "req-wire-1"}
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/add", json=5, headers=headers) as r:
                assert r.status == 200 and await r.json() == 5
                assert r.headers["traceparent"].startswith(f"00-{TRACE}-")
            async with s.post(f"{base}/fail", headers={"traceparent": headers["traceparent"]}) as r:
                assert r.status == 500
            async with s.post(f"{base}/nope", headers={"traceparent": "00-garbage-x-01"}) as r:
                assert r.status == 404  # a malformed traceparent starts a new trace, no 4xx
                other_trace = r.headers["traceparent"].split("-")[1]
        assert rec.requests == []  # batched: nothing is sent on the request's path
        assert tracing.provider is not None
        assert await asyncio.to_thread(tracing.provider.force_flush)
    finally:
        await node.drain()

    assert {ct for ct, _ in rec.requests} == {"application/x-protobuf"}
    spans = rec.spans()
    res = spans[0][0]
    assert res["service.name"] == "roost-wire" and res["service.instance.id"] == "w1"
    assert res["deployment.environment.name"] == "test"
    ok = [s for _, s in spans if s.trace_id.hex() == TRACE]
    by_name: dict[str, list[Span]] = {}
    for sp in ok:
        by_name.setdefault(sp.name, []).append(sp)

    server = by_name["POST /v1/systems/{system}/actors/{actor}/actions/{action}"]
    first, failed = sorted(server, key=lambda sp: sp.start_time_unix_nano)
    assert first.kind == Span.SPAN_KIND_SERVER and first.parent_span_id.hex() == CLIENT_SPAN
    a = attrs(first.attributes)
    assert a["http.request.method"] == "POST" and a["http.response.status_code"] == 200
    assert a["url.path"] == f"/v1/systems/{SYS}/actors/ledger/actions/add"
    assert a["roost.request_id"] == "req-wire-1"
    assert first.status.code == Status.STATUS_CODE_UNSET

    (turn,) = by_name["roost.turn ledger.add"]
    t = attrs(turn.attributes)
    assert (t["roost.actor"], t["roost.action"], t["roost.durability"]) == ("ledger", "add", "sync")
    (write,) = by_name["roost.store write"]
    assert write.kind == Span.SPAN_KIND_CLIENT and write.parent_span_id == turn.span_id
    assert attrs(write.attributes)["db.system.name"] == "sqlite"

    # a 500: the server span and the turn are errors, the turn names Roost's code
    f = attrs(failed.attributes)
    assert f["http.response.status_code"] == 500 and f["error.type"] == "500"
    assert failed.status.code == Status.STATUS_CODE_ERROR
    (bad_turn,) = by_name["roost.turn ledger.fail"]
    assert attrs(bad_turn.attributes)["error.type"] == "action_failed"
    assert "ledger is closed" in bad_turn.status.message

    # a 404 is the caller's error: recorded, not an error of the server span; its own trace
    (missing,) = [s for _, s in spans if s.trace_id.hex() == other_trace and s.kind == 2]
    assert attrs(missing.attributes)["http.response.status_code"] == 404
    assert missing.status.code == Status.STATUS_CODE_UNSET
