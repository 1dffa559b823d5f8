"""schemathesis against a live node, with the document the node serves at /openapi.json.

Every operation gets bounded, seeded examples (positive and negative: arbitrary names, wrong
types, bad headers, unsupported media types), and every response must be a documented status
with a documented content type, body and headers, and never a 5xx. Bad JSON and garbage bodies,
which a schema-driven generator does not produce, get a Hypothesis run of their own.

schemathesis calls the node synchronously (requests), so the node runs on an event loop in a
thread of its own rather than on the test's loop. Runs are seeded and bounded (about 10 s);
ROOST_FUZZ_EXAMPLES=500 ROOST_FUZZ_SEED=7 widen one by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from examples.counters import Counter, Tally
from examples.proto_counter import AddMsg, TallyMsg
from roost import Actor, BadRequest, Context, Value, action
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.node.openapi import document
from roost.statestore.crypto import generate_key
from tests.conftest import free_port

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
SEED = 20_251_212
MAX_EXAMPLES = 50


class Echo(Actor):
    """Answers with what it got: any payload and metadata reach a reply."""

    name = "echo"

    @action
    async def echo(self, payload: Any, ctx: Context) -> Value:
        return Value().response({"payload": payload, "metadata": dict(ctx.metadata)})


class ProtoTally(Actor):
    """`examples.proto_counter.ProtoCounter` made strict about its input: the example trusts
    its payload (an empty body or an int64 overflow makes it raise: a 500 `action_failed`, as
    documented for an actor that raises), and these tests look for the node's own 5xx."""

    name = "proto-counter"
    state_type = TallyMsg
    durability = "sync"

    @action
    async def add(self, payload: AddMsg, ctx: Context) -> Value:  # type: ignore[valid-type]
        if payload is None:
            raise BadRequest("add takes a roost.examples.Add")
        total = (ctx.state.total if ctx.state is not None else 0) + payload.value
        if not -(2**63) <= total < 2**63:
            raise BadRequest("the total would overflow int64")
        state = TallyMsg(total=total)
        return Value().state(state).response(state)


class ThreadedNode:
    """A node on its own event loop in a daemon thread, for synchronous clients."""

    def __init__(self, config: NodeConfig, actors: list[type]) -> None:
        self.config = config
        self.actors = actors
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.node: Node | None = None

    def _run(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout=60)

    async def _start(self) -> None:
        self.node = Node(self.config, actor_classes=self.actors)
        await self.node.start()

    def __enter__(self) -> str:
        self.thread.start()
        self._run(self._start())
        return f"http://{self.config.http}"

    def __exit__(self, *exc: object) -> None:
        try:
            if self.node is not None:
                self._run(self.node.drain())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    cfg = NodeConfig(
        node_id="fuzz",
        http=f"127.0.0.1:{free_port()}",
        proxy_http="off",
        statestore=f"sqlite:///{tmp}/roost.db",
        statestore_key=generate_key(),
        max_body=4096,
        request_timeout=5.0,
    )
    with ThreadedNode(cfg, [Counter, Tally, ProtoTally, Echo]) as url:
        yield url


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": int(os.environ.get("ROOST_FUZZ_SEED", SEED)),
        "generation": {
            "mode": "all",
            "max-examples": int(os.environ.get("ROOST_FUZZ_EXAMPLES", MAX_EXAMPLES)),
            "deterministic": True,
        },
        "phases": {"stateful": {"enabled": False}},
    }
)
# protobuf bodies are bytes: schemathesis sends the generated binary strings as they are
schemathesis.serializer.alias(
    ["application/protobuf", "application/x-protobuf"], "application/octet-stream"
)
# The node serves this same document (tests/node/test_openapi.py checks that); it is loaded at
# import because schemathesis parametrizes tests at collection (its fixture-based lazy loading
# does not run under pytest 9).
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)


@schema.parametrize()
def test_api_conforms_and_never_answers_5xx(case: Any, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=CHECKS)


INVOKE = schema["/v1/systems/{system}/actors/{actor}/actions/{action}"]["POST"]
SPAWN = schema["/v1/systems/{system}/actors/{actor}/spawn"]["POST"]
# (actor, action, parent): real actors and actions, so that payloads reach actions
TARGETS = [
    ("c-1", "add", "counter"),
    ("t-1", "add", "tally"),
    ("c-1", "get", "counter"),
    ("c-1", "get_state", None),
    ("echo", "echo", None),
    ("echo", "nope", None),
    ("proto-counter", "add", None),
    ("proto-counter", "get_state", None),
    ("nobody", "add", None),
]
PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
HEADER_TEXT = PRINTABLE.map(str.strip)  # what a client can send: no surrounding whitespace
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | PRINTABLE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(PRINTABLE, inner, max_size=4),
    max_leaves=12,
)
GOOD_JSON = JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.sampled_from(
    [
        b'{"value": 1}',
        b'{"value": 9223372036854775807}',
        b'{"value": -1e308}',
        b'{"parent": "counter"}',
    ]
)
VALID = st.builds(lambda v: json.dumps({"value": v}).encode(), st.integers(-(2**70), 2**70))
BODIES = st.one_of(
    VALID,
    GOOD_JSON,
    GOOD_JSON.flatmap(lambda b: st.integers(0, max(0, len(b) - 1)).map(lambda n: b[:n])),
    st.binary(max_size=80),
    st.sampled_from([b"", b"   ", b"NaN", b'{"value": Infinity}', b"[" * 5000, b"\xff\xfe{}"]),
)
CONTENT_TYPES = st.sampled_from(
    [
        None,
        None,
        "application/json",
        "application/json",
        "application/json; charset=latin-1",
        "application/problem+json",
        "application/protobuf",
        "application/x-protobuf",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/json;;;",
        "*/*",
    ]
)


HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "X-Roost-Metadata": st.one_of(
            JSON_VALUES.map(json.dumps), HEADER_TEXT, st.just('{"user": "alice"}')
        ),
        "X-Roost-Timeout-Ms": st.one_of(st.integers(-5, 10**9).map(str), HEADER_TEXT),
        "X-Roost-Type": st.sampled_from(
            ["roost.examples.Add", "roost.examples.Tally", "google.protobuf.Empty", "no.Such", ""]
        ),
        "X-Request-Id": HEADER_TEXT,
        "Accept": st.sampled_from(["application/protobuf", "application/json", "*/*"]),
    },
)
NUMBERS = st.one_of(st.integers(-(10**20), 10**20), PRINTABLE).map(str)
QUERY = st.fixed_dictionaries(
    {},
    optional={
        "async": st.sampled_from(["true", "false", "1", "", "maybe"]),
        "delay_ms": NUMBERS,
        "scheduled_to": NUMBERS,
    },
)


@hypothesis.settings(
    max_examples=int(os.environ.get("ROOST_FUZZ_EXAMPLES", "200")),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
@hypothesis.given(
    target=st.sampled_from(TARGETS),
    spawn=st.booleans(),
    body=BODIES,
    content_type=CONTENT_TYPES,
    headers=HEADERS,
    query=QUERY,
)
def test_garbage_bodies_and_headers_get_documented_4xx(
    base_url: str,
    target: tuple[str, str, str | None],
    spawn: bool,
    body: bytes,
    content_type: str | None,
    headers: dict[str, str],
    query: dict[str, str],
) -> None:
    """Bad JSON, truncated JSON, random bytes, odd media types and header values, to real
    actors and actions: every answer is documented and none is a 5xx."""
    actor, action, parent = target
    path = {"system": "spawn-system", "actor": actor}
    if content_type is not None:
        headers = {**headers, "Content-Type": content_type}
    if spawn:
        op, url = SPAWN, f"{base_url}/v1/systems/spawn-system/actors/{actor}/spawn"
        query = {}
    else:
        op = INVOKE
        path["action"] = action
        url = f"{base_url}/v1/systems/spawn-system/actors/{actor}/actions/{action}"
        if parent is not None:
            query = {**query, "parent": parent}
    response = requests.post(url, data=body, headers=headers, params=query, timeout=10)
    case = op.Case(
        path_parameters=path, headers=headers, query=query, body=body, media_type="application/json"
    )
    case.validate_response(response, checks=CHECKS)
