"""Malformed input on the Spawn protocol port: a 4xx with a `RequestStatus` saying why, never a
5xx. Garbage, truncated and mistyped messages, huge length prefixes, empty bodies, wrong media
types, bad JSON inside a `JSONType`, and a bounded Hypothesis run of random and mutated bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import hypothesis
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from hypothesis import strategies as st

from roost.node.node import Node
from roost.node.spawnproto import actor_pb2 as A
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.wire import JSON_TYPE_1X, json_to_any
from tests.conftest import free_port
from tests.node.spawnproto.fakehost import OCTET, FakeHost
from tests.node.spawnproto.test_node import SYSTEM, node, proxy

__all__ = ["node"]  # the fixture, from test_node.py


def registration() -> Message:
    return FakeHost().registration()


def spawn_request() -> Message:
    return P.SpawnRequest(actors=[A.ActorId(name="w-1", system=SYSTEM, parent="relay")])


def invocation() -> Message:
    q = P.InvocationRequest(action_name="whoami")
    q.system.name = SYSTEM
    q.actor.id.name, q.actor.id.system = "relay", SYSTEM
    q.value.CopyFrom(json_to_any({"k": [1, 2, {"x": None}]}, JSON_TYPE_1X))
    q.metadata["trace"] = "abc"
    q.caller.name, q.caller.system = "someone", SYSTEM
    return q


# (path, request type, response type, a valid request)
ENDPOINTS: list[tuple[str, type[Message], type[Message], Callable[[], Message]]] = [
    ("/api/v1/system", P.RegistrationRequest, P.RegistrationResponse, registration),
    (f"/api/v1/system/{SYSTEM}/actors/spawn", P.SpawnRequest, P.SpawnResponse, spawn_request),
    (
        f"/api/v1/system/{SYSTEM}/actors/relay/invoke",
        P.InvocationRequest,
        P.InvocationResponse,
        invocation,
    ),
]
IDS = ["register", "spawn", "invoke"]
GARBAGE = {
    "not protobuf": b"\xff" * 16,
    "json": b'{"actor": "relay", "action_name": "whoami"}',
    "huge length prefix": b"\x0a\xff\xff\xff\xff\x0f",
    "length past the end": b"\x0a\x10abc",
    "overlong varint": b"\x08" + b"\x80" * 11,
    "truncated varint": b"\x08",
    "group never closed": b"\x0b",
    "bad wire type": b"\x0f",
    "field number 0": b"\x00\x01",
    "bad utf-8 in a string": b"\x0a\x02\x0a\x02\xff\xfe",
}


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def post(
    client: aiohttp.ClientSession,
    node: Node,
    path: str,
    body: bytes,
    reply_type: type[Message],
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST `body`; the status and the decoded reply (whose `status` must agree with it)."""
    # a host that registers is called back on this port: a closed one, never someone's server
    hdrs = {**OCTET, "X-Roost-Actor-Host-Port": str(free_port()), **(headers or {})}
    async with client.post(f"{proxy(node)}{path}", data=body, headers=hdrs) as r:
        raw = await r.read()
        status = r.status
    assert status < 500, (status, raw[:300])
    out = reply_type()
    out.ParseFromString(raw)  # a RequestStatus body, not aiohttp's text page
    if status == 200:
        assert out.status.status == P.OK, out
    else:
        assert out.status.status in (P.ERROR, P.ACTOR_NOT_FOUND), out
        assert out.status.message
    return status, out


def parses(cls: type[Message], body: bytes) -> bool:
    try:
        cls().ParseFromString(body)
    except DecodeError:
        return False
    return True


async def test_valid_messages_are_served(node: Node, client: aiohttp.ClientSession) -> None:
    """The baseline: what the malformed variants below are spoiled from is understood."""
    results = [
        (await post(client, node, path, make().SerializeToString(), resp))[0]
        for path, _, resp, make in ENDPOINTS
    ]
    assert results == [200, 404, 200]  # the node has no template `relay` to spawn from


@pytest.mark.parametrize(("path", "req", "resp", "make"), ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("name", list(GARBAGE))
async def test_garbage_is_400(
    node: Node,
    client: aiohttp.ClientSession,
    path: str,
    req: type[Message],
    resp: type[Message],
    make: Callable[[], Message],
    name: str,
) -> None:
    status, out = await post(client, node, path, GARBAGE[name], resp)
    assert status == 400, out
    assert "not a valid" in out.status.message


@pytest.mark.parametrize(("path", "req", "resp", "make"), ENDPOINTS, ids=IDS)
async def test_truncated_messages_are_4xx(
    node: Node,
    client: aiohttp.ClientSession,
    path: str,
    req: type[Message],
    resp: type[Message],
    make: Callable[[], Message],
) -> None:
    """Every prefix of a valid message: 400 when it does not decode; a prefix that ends on a
    field boundary is a shorter valid message and gets what that one deserves, never a 5xx."""
    full = make().SerializeToString()
    undecodable = 0
    for n in range(len(full)):
        status, _ = await post(client, node, path, full[:n], resp)
        if not parses(req, full[:n]):
            undecodable += 1
            assert status == 400, n
    assert undecodable > len(full) // 2


@pytest.mark.parametrize(
    ("path", "resp", "body"),
    [
        # a known field with the wire type of another: upb keeps it as an unknown field, so
        # the message is empty where it matters
        ("/api/v1/system", P.RegistrationResponse, b"\x12\x00" + b"\x15\x00\x00\x00\x00"),
        (f"/api/v1/system/{SYSTEM}/actors/spawn", P.SpawnResponse, b"\x08\x01"),
        (f"/api/v1/system/{SYSTEM}/actors/relay/invoke", P.InvocationResponse, b"\x18\x01"),
        (f"/api/v1/system/{SYSTEM}/actors/relay/invoke", P.InvocationResponse, b"\x2a\x01x"),
    ],
    ids=["register", "spawn", "invoke-action-as-varint", "invoke-async-as-bytes"],
)
async def test_wrong_type_fields_are_4xx(
    node: Node, client: aiohttp.ClientSession, path: str, resp: type[Message], body: bytes
) -> None:
    status, _ = await post(client, node, path, body, resp)
    assert 400 <= status < 500


@pytest.mark.parametrize(("path", "req", "resp", "make"), ENDPOINTS, ids=IDS)
async def test_empty_body_is_4xx(
    node: Node,
    client: aiohttp.ClientSession,
    path: str,
    req: type[Message],
    resp: type[Message],
    make: Callable[[], Message],
) -> None:
    """An empty body is a valid, empty message: refused for what it lacks (an unknown system
    '' is a 404 ACTOR_NOT_FOUND; no actor to spawn or no action is a 400)."""
    status, out = await post(client, node, path, b"", resp)
    assert status == (404 if req is P.RegistrationRequest else 400), out


@pytest.mark.parametrize(("path", "req", "resp", "make"), ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "ctype",
    [
        "application/json",
        "application/problem+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
async def test_wrong_content_type_is_415(
    node: Node,
    client: aiohttp.ClientSession,
    path: str,
    req: type[Message],
    resp: type[Message],
    make: Callable[[], Message],
    ctype: str,
) -> None:
    body = make().SerializeToString()
    status, out = await post(client, node, path, body, resp, {"Content-Type": ctype})
    assert status == 415, out
    assert "must be protobuf" in out.status.message


async def test_body_over_the_limit_is_413(node: Node, client: aiohttp.ClientSession) -> None:
    path, _, resp, _ = ENDPOINTS[2]
    status, _ = await post(client, node, path, b"\x00" * (node.config.max_body + 1), resp)
    assert status == 413


@pytest.mark.parametrize(
    "content",
    ["[" * 5000, "NaN", '{"v": Infinity}', "1e999", "9" * 5000, "{", "not json"],
    ids=["deep", "nan", "infinity", "overflow", "huge-int", "truncated", "text"],
)
async def test_bad_json_in_a_json_type_is_400(
    node: Node, client: aiohttp.ClientSession, content: str
) -> None:
    q = invocation()
    q.value.CopyFrom(
        any_pb2.Any(type_url=JSON_TYPE_1X, value=P.JSONType(content=content).SerializeToString())
    )
    path, _, resp, _ = ENDPOINTS[2]
    status, out = await post(client, node, path, q.SerializeToString(), resp)
    assert status == 400, out
    assert out.status.message.startswith("payload: ")


def _mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """`valid` with a few bytes replaced, inserted or cut out."""

    def apply(edits: list[tuple[int, int, int]]) -> bytes:
        out = bytearray(valid)
        for kind, pos, byte in edits:
            i = pos % (len(out) + 1)
            if kind == 0 and i < len(out):
                out[i] = byte
            elif kind == 1:
                out.insert(i, byte)
            elif out:
                del out[min(i, len(out) - 1)]
        return bytes(out)

    edit = st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255))
    return st.lists(edit, min_size=1, max_size=4).map(apply)


@hypothesis.settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(data=st.data())
async def test_random_and_mutated_bytes_never_5xx(
    node: Node, client: aiohttp.ClientSession, data: st.DataObject
) -> None:
    path, req, resp, make = data.draw(st.sampled_from(ENDPOINTS))
    body = data.draw(st.binary(max_size=200) | _mutations(make().SerializeToString()))
    status, _ = await post(client, node, path, body, resp)  # asserts < 500 and a status body
    if not parses(req, body):
        assert status == 400
