"""Spans inside one node's `Core`: a span per broadcast delivery, errors with their code, trace
ids on log lines, W3C propagation helpers, and nothing wrapped at all when tracing is off."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Collection
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from roost import Actor, Channel, Context, Value, action
from roost.errors import ActionFailed
from roost.membership.base import Member, MemberStatus, MemberView
from roost.metrics import MeteredStore, Metrics
from roost.node import logs
from roost.node.core import Core
from roost.placement.ring import Ring
from roost.placement.router import Router
from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActorType
from roost.statestore.memory import MemoryStore
from roost.tracing import Tracing, extract, headers, inject

SYS = "sys"
log = logging.getLogger("tests.tracing.actor")


class Pub(Actor):
    name = "pub"

    @action
    async def say(self, payload: Any, ctx: Context) -> Value:
        return Value().response("ok").broadcast("news", payload)


class Sub1(Actor):
    name = "sub1"
    channels = (Channel("news", action="hear"),)

    @action
    async def hear(self, payload: Any, ctx: Context) -> Value:
        return Value().state(payload)


class Sub2(Sub1):
    name = "sub2"


class Faulty(Actor):
    name = "faulty"

    @action
    async def boom(self, ctx: Context) -> Value:
        log.warning("about to fail")
        raise ValueError("no")


def core_with(exporter: InMemorySpanExporter | None) -> Core:
    classes = [Pub, Sub1, Sub2, Faulty]
    types = SystemTypes.build(SYS, [ActorType.from_class(c) for c in classes])
    tracing = Tracing.with_exporter("n1", exporter, batch=False) if exporter is not None else None
    extra = {} if tracing is None else {"tracing": tracing}
    return Core(
        node_id="n1", systems={SYS: types}, store=MemoryStore(),
        metrics=Metrics("n1", process=False), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
async def traced() -> AsyncIterator[tuple[Core, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    core = core_with(exporter)
    await core.start()
    try:
        yield core, exporter
    finally:
        await core.stop()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_a_span_per_broadcast_delivery(traced: tuple[Core, InMemorySpanExporter]) -> None:
    core, exporter = traced
    for sub in ("sub1", "sub2"):  # active subscribers hear the channel
        await core.invoke(sub, "get_state", system=SYS)
    exporter.clear()
    assert await core.invoke("pub", "say", "hi", system=SYS) == "ok"
    while (
        len(named(exporter.get_finished_spans(), "roost.turn sub1.hear"))
        + len(named(exporter.get_finished_spans(), "roost.turn sub2.hear"))
        < 2
    ):
        await asyncio.sleep(0.01)  # deliveries run in background tasks of the runtime
    spans = exporter.get_finished_spans()
    (bcast,) = named(spans, "roost.broadcast news")
    deliveries = named(spans, "roost.deliver hear")
    assert {d.attributes["roost.actor"] for d in deliveries} == {"sub1", "sub2"}
    assert all(d.parent is not None for d in deliveries)
    assert {d.parent.span_id for d in deliveries} == {bcast.context.span_id}  # type: ignore[union-attr]
    by_id = {s.context.span_id: s for s in spans}
    for turn in (*named(spans, "roost.turn sub1.hear"), *named(spans, "roost.turn sub2.hear")):
        assert turn.parent is not None
        assert by_id[turn.parent.span_id].name == "roost.deliver hear"


async def test_errors_carry_their_code_and_logs_carry_the_ids(
    traced: tuple[Core, InMemorySpanExporter],
) -> None:
    core, exporter = traced
    out = io.StringIO()
    handler = logs.handler("json", "n1", out)
    log.addHandler(handler)
    try:
        with pytest.raises(ActionFailed):
            await core.invoke("faulty", "boom", system=SYS)
    finally:
        log.removeHandler(handler)
    spans = exporter.get_finished_spans()
    (turn,) = named(spans, "roost.turn faulty.boom")
    assert turn.status.status_code == StatusCode.ERROR
    assert turn.attributes["error.type"] == "action_failed"
    assert turn.attributes["roost.error.code"] == "action_failed"
    assert named(spans, "roost.route boom") == []  # served here: the turn is the call's span
    line = json.loads(out.getvalue().splitlines()[0])
    assert line["msg"] == "about to fail"
    assert line["trace_id"] == f"{turn.context.trace_id:032x}"
    assert line["span_id"] == f"{turn.context.span_id:016x}"


async def test_tracing_off_wraps_nothing() -> None:
    """Off, the call path is the code as written: no wrapper, no traced store."""
    core = core_with(None)
    assert core.router.invoke.__func__ is Router.invoke  # type: ignore[attr-defined]
    assert type(core.store) is MeteredStore
    assert "invoke" not in vars(core.runtime) and "_effect" not in vars(core.runtime)


def test_inject_and_extract_w3c_context() -> None:
    meta = {"user": "u1"}
    assert inject(meta) is meta  # no current span: nothing to carry, nothing copied
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s") as s:
        carried = inject(meta)
    assert carried is not None and carried is not meta and meta == {"user": "u1"}
    sc = s.get_span_context()
    assert carried["traceparent"] == f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}"
    ctx = extract(carried)
    assert trace.get_current_span(ctx).get_span_context().span_id == sc.span_id
    # headers arrive in any case; a malformed traceparent continues nothing
    assert extract({"Traceparent": carried["traceparent"]}) is not None
    assert extract({"traceparent": "00-zz-yy-01"}) is None
    assert extract({"user": "u1"}) is None and extract(None) is None


def test_trace_headers_for_calls_leaving_the_mesh() -> None:
    assert headers() == {}
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s") as s:
        out = headers()
    assert out["traceparent"].split("-")[2] == f"{s.get_span_context().span_id:016x}"


def test_server_span_for_any_http_server() -> None:
    """The transport-neutral form a front door calls: headers in, `traceparent` out."""
    exporter = InMemorySpanExporter()
    tracing = Tracing.with_exporter("n1", exporter, batch=False)
    incoming = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    with tracing.server_span(incoming, "POST", "/v1/x/{a}", "/v1/x/1") as ss:
        returned = ss.done(503)
    (s,) = exporter.get_finished_spans()
    assert returned == f"00-{s.context.trace_id:032x}-{s.context.span_id:016x}-01"
    assert returned.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert s.name == "POST /v1/x/{a}" and s.status.status_code == StatusCode.ERROR
    assert s.attributes is not None and s.attributes["http.response.status_code"] == 503


def test_the_traced_forwarder_passes_retain_on() -> None:
    """The router tells its forwarder which members are live on every view; tracing wraps the
    forwarder, and must not swallow that (the links to departed members would stay open)."""
    kept: list[set[str]] = []

    class Links:
        async def forward(self, *args: Any, **kw: Any) -> Any:
            raise AssertionError("not called here")

        def retain(self, member_ids: Collection[str]) -> None:
            kept.append(set(member_ids))

    tracing = Tracing.with_exporter("n1", InMemorySpanExporter(), batch=False)
    core = core_with(None)
    router = Router("n1", core.runtime, forwarder=tracing.forwarder(Links()))
    assert type(router.forwarder).__name__ == "TracedForwarder"
    view = MemberView({m: Member(m, "h:1", "g:1", s) for m, s in
                       (("n1", MemberStatus.ACTIVE), ("n2", MemberStatus.LEFT))}, 3)  # fmt: skip
    router.update(view, Ring(["n1"], version=3))
    assert kept == [{"n1"}]
