"""One connected trace across three real nodes: a call enters node A, is forwarded to B, whose
turn pipes to an actor on C, with a side effect, a broadcast heard on another node, and a delayed
call that fires later. Each node
exports to its own in-memory exporter (as each would to the collector), and the spans of all
three must form one tree under the caller's `traceparent`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from roost import Actor, Channel, Context, Value, action
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.placement.ring import Ring
from roost.tracing import Tracing
from tests.conftest import free_port
from tests.node.fake_cluster import SECRET, Hub, HubMembership

SYS = "spawn-system"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


class Front(Actor):
    """The entry actor: writes its state synchronously, tells `audit`, schedules `later`,
    broadcasts on `news`, and pipes its reply to `back`."""

    name = "front"
    kind = "unnamed"  # an instance is activated by the traced call (named ones are warmed up)
    durability = "sync"

    @action
    async def go(self, payload: Any, ctx: Context) -> Value:
        n = (ctx.state or 0) + 1
        return (
            Value()
            .state(n)
            .response({"n": n, "item": payload})
            .effect("audit", "note", payload)
            .effect("later", "ping", payload, delay_ms=50)
            .broadcast("news", payload)
            .pipe("back", "finish")
        )


class Back(Actor):
    name = "back"

    @action
    async def finish(self, payload: Any, ctx: Context) -> Value:
        return Value().response({"done": payload})


class Audit(Actor):
    name = "audit"

    @action
    async def note(self, payload: Any, ctx: Context) -> Value:
        return Value().state(payload)


class Later(Actor):
    name = "later"

    @action
    async def ping(self, payload: Any, ctx: Context) -> Value:
        return Value().state(payload)


class Listener(Actor):
    name = "listener"
    channels = (Channel("news", action="hear"),)

    @action
    async def hear(self, payload: Any, ctx: Context) -> Value:
        return Value().state(payload)


ACTORS = [Front, Back, Audit, Later, Listener]


def node_ids() -> list[str]:
    """Three ids whose ring puts `front` on the second node, `back` on the third, and
    `listener` on a node other than `front`'s (its delivery crosses nodes)."""
    for i in range(10_000):
        ids = [f"a{i}", f"b{i}", f"c{i}"]
        ring = Ring(ids)
        if (ring.owner(SYS, "front"), ring.owner(SYS, "back")) == (ids[1], ids[2]) and ring.owner(
            SYS, "listener"
        ) != ids[1]:
            return ids
    raise AssertionError("no such ring")


@contextlib.asynccontextmanager
async def traced_cluster(
    tmp_path: Path, key: str, ids: Sequence[str]
) -> AsyncIterator[tuple[list[Node], dict[str, InMemorySpanExporter]]]:
    """The fake cluster's nodes (real HTTP forwarding, a shared SQLite store), each tracing to
    its own in-memory exporter, synchronously (a span is exported as it ends)."""
    hub = Hub()
    nodes: list[Node] = []
    exporters: dict[str, InMemorySpanExporter] = {}
    try:
        for node_id in ids:
            http = f"127.0.0.1:{free_port()}"
            cfg = NodeConfig(
                node_id=node_id, http=http, seeds=("127.0.0.1:1",), statestore_key=key,
                statestore=f"sqlite:///{tmp_path}/cluster.db", proxy_http="off",
                cluster_secret=SECRET,
            )  # fmt: skip
            exporters[node_id] = exp = InMemorySpanExporter()
            tracing = Tracing.with_exporter(node_id, exp, batch=False)
            membership = HubMembership(hub, node_id, http)
            node = Node(cfg, actor_classes=ACTORS, membership=membership, tracing=tracing)
            membership.tags = dict(node.gossip_tags)
            nodes.append(node)
            await node.start()
        yield nodes, exporters
    finally:
        for node in reversed(nodes):
            await node.drain()


def spans_of(exporters: dict[str, InMemorySpanExporter]) -> list[ReadableSpan]:
    return [s for e in exporters.values() for s in e.get_finished_spans()]


async def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Poll a check of background work (the delayed call fires on the scheduler's tick)."""
    deadline = time.monotonic() + seconds
    while not (result := check()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return result


def node_of(s: ReadableSpan) -> str:
    return str(s.resource.attributes["service.instance.id"])


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def ancestors(s: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    out = []
    while s.parent is not None and s.parent.span_id in by_id:
        s = by_id[s.parent.span_id]
        out.append(s)
    return out


async def test_one_trace_across_three_nodes_pipe_effect_broadcast_and_delayed_call(
    tmp_path: Path, key: str
) -> None:
    a, b, c = ids = node_ids()
    async with traced_cluster(tmp_path, key, ids) as (nodes, exporters):
        base = f"http://{nodes[0].config.http}/v1/systems/{SYS}/actors"
        headers = {"traceparent": f"00-{TRACE}-{CLIENT_SPAN}-01", "tracestate": "vendor=1"}
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/listener/state") as r:  # active: it hears the channel
                assert r.status == 200
            for e in exporters.values():
                e.clear()  # that activation was a trace of its own
            go = f"{base}/front/actions/go?parent=front"
            async with s.post(go, json="x", headers=headers) as r:
                assert r.status == 200, await r.text()
                assert await r.json() == {"done": {"n": 1, "item": "x"}}
                returned = r.headers["traceparent"]

        def complete() -> bool:
            names = {s.name for s in spans_of(exporters)}
            # the outermost spans of the background work: each ends after all inside it
            outer = {"roost.scheduled ping", "roost.effect note", "roost.effect ping"}
            return outer | {"roost.deliver hear", "roost.broadcast news"} <= names

        assert await eventually(complete), sorted(s.name for s in spans_of(exporters))
        spans = spans_of(exporters)

    # the response names the trace the caller started, and the server span in it
    version, trace_id, span_id, flags = returned.split("-")
    assert (version, trace_id, flags) == ("00", TRACE, "01")
    # every span of every node is in the caller's trace, and they form one tree under its span
    assert {f"{s.context.trace_id:032x}" for s in spans} == {TRACE}
    by_id = {s.context.span_id: s for s in spans}
    roots = [s for s in spans if s.parent is None or s.parent.span_id not in by_id]
    assert len(roots) == 1, [(s.name, node_of(s)) for s in roots]
    server = roots[0]
    assert f"{server.parent.span_id:016x}" == CLIENT_SPAN and server.parent.is_remote
    assert f"{server.context.span_id:016x}" == span_id
    assert server.kind == SpanKind.SERVER and node_of(server) == a
    assert server.name == "POST /v1/systems/{system}/actors/{actor}/actions/{action}"
    assert server.attributes["http.response.status_code"] == 200
    assert server.context.trace_state.get("vendor") == "1"
    assert {node_of(s) for s in spans} == {a, b, c}

    # entry on A -> forward to B -> the turn on B -> pipe -> forward to C -> the turn on C
    finish = one(spans, "roost.turn back.finish")
    path = [(s.name, node_of(s)) for s in reversed([finish, *ancestors(finish, by_id)])]
    assert path == [
        (server.name, a),
        ("roost.route go", a),
        ("roost.forward go", a),
        ("roost.route go", b),
        ("roost.turn front.go", b),
        ("roost.pipe finish", b),
        ("roost.route finish", b),
        ("roost.forward finish", b),
        ("roost.route finish", c),
        ("roost.turn back.finish", c),
    ], path
    fwd = next(s for s in spans if s.name == "roost.forward go")
    assert fwd.kind == SpanKind.CLIENT and fwd.attributes["roost.peer"] == b
    entry_b = next(s for s in spans if s.name == "roost.route go" and node_of(s) == b)
    assert entry_b.kind == SpanKind.SERVER and entry_b.parent.is_remote
    assert entry_b.attributes["roost.owner"] == b and entry_b.attributes["roost.hops"] == 1
    assert isinstance(entry_b.attributes["roost.ring.version"], int)

    turn = one(spans, "roost.turn front.go")
    assert turn.attributes["roost.activation"] is True
    assert turn.attributes["roost.durability"] == "sync"
    assert turn.attributes["roost.actor"] == "front"
    # the fenced write of the sync turn, and the lease taken on activation, inside the turn
    store = {s.name: s for s in spans if s.parent and s.parent.span_id == turn.context.span_id}
    assert store["roost.store write"].attributes["db.system.name"] == "sqlite"
    assert store["roost.store write"].attributes["roost.store.fenced"] is True
    assert "roost.store acquire" in store

    # the side effect: its own span, under which the audit turn ran
    note = one(spans, "roost.turn audit.note")
    assert one(spans, "roost.effect note") in ancestors(note, by_id)

    # the broadcast: a span per delivery under the broadcast; a named subscriber's delivery is
    # routed from the sender to the subscriber's owner, whose turn runs in the same trace
    bcast, deliver = one(spans, "roost.broadcast news"), one(spans, "roost.deliver hear")
    assert node_of(bcast) == b and node_of(deliver) == b
    assert deliver.parent is not None and deliver.parent.span_id == bcast.context.span_id
    assert deliver.kind == SpanKind.PRODUCER
    hear = one(spans, "roost.turn listener.hear")
    assert node_of(hear) == Ring(ids).owner(SYS, "listener") != b
    assert deliver in ancestors(hear, by_id)

    # the delayed call: scheduled inside its effect's span, fired later on its owner, in the same
    # trace, as a child of (and linked to) the span that scheduled it
    scheduled = one(spans, "roost.schedule ping")
    fired = one(spans, "roost.scheduled ping")
    assert one(spans, "roost.effect ping") in ancestors(scheduled, by_id)
    assert fired.parent.span_id == scheduled.context.span_id
    assert [lk.context.span_id for lk in fired.links] == [scheduled.context.span_id]
    assert fired.kind == SpanKind.CONSUMER
    assert fired in ancestors(one(spans, "roost.turn later.ping"), by_id)


async def test_an_unsampled_caller_is_honoured_on_every_node(tmp_path: Path, key: str) -> None:
    """The caller decided not to sample (flags 00): no node records a span of the call, and the
    response still names the trace so that logs can be matched to it."""
    ids = node_ids()
    async with traced_cluster(tmp_path, key, ids) as (nodes, exporters):
        url = f"http://{nodes[0].config.http}/v1/systems/{SYS}/actors/back/actions/finish"
        headers = {"traceparent": f"00-{TRACE}-{CLIENT_SPAN}-00"}
        async with aiohttp.ClientSession() as s, s.post(url, json=1, headers=headers) as r:
            assert r.status == 200
            returned = r.headers["traceparent"]
        assert spans_of(exporters) == []
    assert returned.startswith(f"00-{TRACE}-") and returned.endswith("-00")


async def test_a_call_without_traceparent_starts_a_trace(tmp_path: Path, key: str) -> None:
    ids = node_ids()
    async with traced_cluster(tmp_path, key, ids) as (nodes, exporters):
        url = f"http://{nodes[0].config.http}/v1/systems/{SYS}/actors/back/actions/finish"
        async with aiohttp.ClientSession() as s, s.post(url, json=1) as r:
            assert r.status == 200
            returned = r.headers["traceparent"]
        spans = spans_of(exporters)
    assert {f"{s.context.trace_id:032x}" for s in spans} == {returned.split("-")[1]}
    assert {node_of(s) for s in spans} == {ids[0], ids[2]}  # entered on A, ran on C


@pytest.mark.parametrize(
    ("method", "route", "path", "body"),
    [
        ("GET", "/v1/systems/{system}/actors/{actor}/state", "/back/state", None),
        ("POST", "/v1/systems/{system}/actors/{actor}/spawn", "/f-9/spawn", {"parent": "front"}),
    ],
)
async def test_state_and_spawn_requests_get_a_server_span_too(
    tmp_path: Path, key: str, method: str, route: str, path: str, body: Any
) -> None:
    ids = node_ids()
    async with traced_cluster(tmp_path, key, ids) as (nodes, exporters):
        url = f"http://{nodes[0].config.http}/v1/systems/{SYS}/actors{path}"
        headers = {"traceparent": f"00-{TRACE}-{CLIENT_SPAN}-01"}
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, url, json=body, headers=headers) as r,
        ):
            assert r.status == 200, await r.text()
            returned = r.headers["traceparent"]
        spans = spans_of(exporters)
    server = one(spans, f"{method} {route}")
    assert f"{server.context.trace_id:032x}" == TRACE and returned.startswith(f"00-{TRACE}-")
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CLIENT_SPAN
