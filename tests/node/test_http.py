"""The HTTP API against a real node on a loopback port: every documented status and error code."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from examples.counters import Counter, Incrementor, Tally
from roost import Actor, Context, Value, action
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.statestore import ActorKey
from tests.conftest import free_port


class Sleeper(Actor):
    name = "sleeper"

    @action
    async def nap(self, payload: dict[str, Any], ctx: Context) -> Value:
        await asyncio.sleep(payload["seconds"])
        total = (ctx.state or {}).get("naps", 0) + 1
        return Value().state({"naps": total}).response({"naps": total})

    @action
    async def echo(self, payload: Any, ctx: Context) -> Value:
        return Value().response({"payload": payload, "metadata": dict(ctx.metadata)})


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    cfg = NodeConfig(
        node_id="http-test",
        http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db",
        statestore_key=key,
        max_body=4096,
        proxy_http="off",
    )
    n = Node(cfg, actor_classes=[Incrementor, Counter, Tally, Sleeper])
    await n.start()
    yield n
    await n.drain()


@pytest.fixture
async def http(node: Node) -> AsyncIterator[aiohttp.ClientSession]:
    base = f"http://{node.config.http}"
    async with aiohttp.ClientSession(base_url=base) as s:
        yield s


A = "/v1/systems/spawn-system/actors"


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, **kw: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        kw.setdefault("headers", {})["Content-Type"] = "application/json"
    async with http.request(method, path, data=body, **kw) as r:
        raw = await r.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode()
        return r.status, data, r


def code(data: Any) -> str:
    return str(data["error"]["code"])


async def test_seed_invocation_and_state(http: aiohttp.ClientSession) -> None:
    assert (await call(http, "POST", f"{A}/incrementor/actions/add", {"value": 1}))[:2] == (
        200,
        {"total": 1},
    )
    assert (await call(http, "POST", f"{A}/incrementor/actions/add", {"value": 1}))[1] == {
        "total": 2
    }
    assert (await call(http, "GET", f"{A}/incrementor/state"))[:2] == (200, {"total": 2})


async def test_unnamed_with_parent_and_spawn(http: aiohttp.ClientSession) -> None:
    st, data, _ = await call(http, "POST", f"{A}/c-1/actions/add?parent=counter", {"value": 5})
    assert (st, data) == (200, {"total": 5})
    st, data, _ = await call(http, "POST", f"{A}/s-1/spawn", {"parent": "tally"})
    assert st == 200 and data["parent"] == "tally"
    st, data, _ = await call(http, "POST", f"{A}/s-1/actions/add", {"value": 2})
    assert (st, data) == (200, {"total": 2})
    st, data, _ = await call(http, "POST", f"{A}/s-2/spawn", {"parent": "nothing"})
    assert (st, code(data)) == (404, "actor_not_found")
    st, data, _ = await call(http, "POST", f"{A}/incrementor/spawn", {"parent": "counter"})
    assert (st, code(data)) == (400, "bad_request")
    st, data, _ = await call(http, "POST", f"{A}/s-3/spawn", {"template": "counter"})
    assert (st, code(data)) == (400, "bad_request")


async def test_empty_body_is_no_payload_and_null_reply(http: aiohttp.ClientSession) -> None:
    st, data, _ = await call(http, "POST", f"{A}/x/actions/echo?parent=sleeper", b"")
    assert st == 404  # sleeper is a named type, not a template
    st, data, _ = await call(http, "POST", f"{A}/sleeper/actions/echo", b"")
    assert (st, data) == (200, {"payload": None, "metadata": {}})


async def test_metadata_reaches_the_action(http: aiohttp.ClientSession) -> None:
    st, data, _ = await call(
        http,
        "POST",
        f"{A}/sleeper/actions/echo",
        [1, "two"],
        headers={"X-Roost-Metadata": '{"trace": "abc"}'},
    )
    assert (st, data) == (200, {"payload": [1, "two"], "metadata": {"trace": "abc"}})


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "expected"),
    [
        (f"{A}/incrementor/actions/add", b'{"value": ', None, 400, "bad_request"),
        (f"{A}/incrementor/actions/add", b'{"value": NaN}', None, 400, "bad_request"),
        (f"{A}/incrementor/actions/add", b"\xff\xfe", None, 400, "bad_request"),
        (f"{A}/sleeper/actions/echo", b"{}", {"X-Roost-Metadata": "[1]"}, 400, "bad_request"),
        (f"{A}/sleeper/actions/echo", b"{}", {"X-Roost-Metadata": '{"a": 1}'}, 400, "bad_request"),
        (f"{A}/sleeper/actions/echo", b"{}", {"X-Roost-Metadata": "{"}, 400, "bad_request"),
        (f"{A}/sleeper/actions/echo", b"{}", {"X-Roost-Timeout-Ms": "soon"}, 400, "bad_request"),
        (f"{A}/sleeper/actions/echo?async=maybe", b"{}", None, 400, "bad_request"),
        (f"{A}/c-1/actions/add?parent=a%2Fb", b"{}", None, 400, "bad_request"),
        (f"{A}/c-1/actions/add", b'{"value": "x"}', None, 404, "actor_not_found"),
        (f"{A}/nobody/actions/add", b'{"value": 1}', None, 404, "actor_not_found"),
        (f"{A}/incrementor/actions/fly", b"{}", None, 404, "action_not_found"),
        ("/v1/systems/other/actors/incrementor/actions/add", b"{}", None, 404, "system_not_found"),
        (f"{A}/incrementor/actions/add", b"x" * 5000, None, 413, "payload_too_large"),
        (
            f"{A}/incrementor/actions/add",
            b"value=1",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        (f"{A}/incrementor/actions/add", b'{"value": "x"}', None, 500, "action_failed"),
        (f"{A}/c-2/actions/add?parent=counter", b'{"value": "x"}', None, 400, "bad_request"),
    ],
)
async def test_error_codes(
    http: aiohttp.ClientSession,
    path: str,
    body: bytes,
    headers: dict[str, str] | None,
    status: int,
    expected: str,
) -> None:
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    st, data, _ = await call(http, "POST", path, body, headers=hdrs)
    assert st == status, data
    assert code(data) == expected
    assert data["error"]["message"]


# Refused by the node before any actor runs, whatever the actor: always a 4xx.
MALFORMED: list[tuple[bytes, dict[str, str]]] = [
    (b'{"value": ', {}),
    (b'{"value": 1.5e999}', {}),  # a number JSON cannot carry back (infinity)
    (b'{"value": 1}{"value": 1}', {}),
    (b"\xff\xfe", {}),
    (b'{"value": 1}', {"Content-Encoding": "gzip"}),  # says gzip, is not
]
# Well-formed JSON of the wrong shape: an action that checks its input answers 400
# (`roost.BadRequest`); the seed `Incrementor` does not check, so its TypeError is a 500
# `action_failed`, which the contract reserves for an actor that raised.
WRONG_SHAPE = [b'{"value": "x"}', b"[]", b"null", b'{"other": 1}', b'{"value": [1]}', b""]


async def test_bad_input_is_4xx_and_changes_no_state(
    http: aiohttp.ClientSession, node: Node
) -> None:
    inc, ctr = f"{A}/incrementor/actions/add", f"{A}/c-1/actions/add?parent=counter"
    for path in (inc, ctr):
        assert (await call(http, "POST", path, {"value": 3}))[:2] == (200, {"total": 3})
    json_ct = {"Content-Type": "application/json"}
    for path in (inc, ctr):
        for body, extra in MALFORMED:
            st, data, _ = await call(http, "POST", path, body, headers={**json_ct, **extra})
            assert 400 <= st < 500, (path, body, extra, st, data)
            assert code(data) == "bad_request" and data["error"]["message"], data
    for body in WRONG_SHAPE:
        st, data, _ = await call(http, "POST", ctr, body, headers=json_ct)
        assert 400 <= st < 500, (body, st, data)
        assert code(data) == "bad_request" and data["error"]["message"], data
        st, data, _ = await call(http, "POST", inc, body, headers=json_ct)
        assert (st, code(data)) == (500, "action_failed"), (body, data)  # rolled back below
    assert (await call(http, "GET", f"{A}/incrementor/state"))[1] == {"total": 3}
    assert (await call(http, "POST", f"{A}/c-1/actions/get?parent=counter"))[1] == {"total": 3}
    await node.core.runtime.flush_all()  # and what is stored agrees
    for actor in ("incrementor", "c-1"):
        row = await node.core.store.read(ActorKey("spawn-system", actor))
        assert row is not None and json.loads(row.data or b"") == {"total": 3}


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_undecodable_body_is_400_and_the_connection_closes(
    http: aiohttp.ClientSession, encoding: str, caplog: pytest.LogCaptureFixture
) -> None:
    hdrs = {"Content-Type": "application/json", "Content-Encoding": encoding}
    body = b'{"value": 1}'  # plain JSON, labelled as compressed
    st, data, r = await call(http, "POST", f"{A}/incrementor/actions/add", body, headers=hdrs)
    assert (st, code(data)) == (400, "bad_request")
    assert encoding in data["error"]["message"]
    assert r.headers.get("Connection", "").lower() == "close"  # the stream is beyond repair
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    st, data, _ = await call(http, "POST", f"{A}/incrementor/actions/add", {"value": 1})
    assert (st, data) == (200, {"total": 1})  # the same session goes on, on a new connection


async def test_chunked_body_over_the_limit_is_413(http: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    async with http.post(
        f"{A}/incrementor/actions/add", data=chunks(), headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 413
        assert code(await r.json()) == "payload_too_large"


async def test_deadline_gives_504_and_the_actor_stays_usable(http: aiohttp.ClientSession) -> None:
    st, data, _ = await call(
        http,
        "POST",
        f"{A}/sleeper/actions/nap",
        {"seconds": 0.5},
        headers={"X-Roost-Timeout-Ms": "50"},
    )
    assert (st, code(data)) == (504, "timeout")
    st, data, _ = await call(http, "POST", f"{A}/sleeper/actions/nap", {"seconds": 0})
    # the action interrupted at the deadline was rolled back, and the actor answers at once
    assert (st, data) == (200, {"naps": 1})


async def test_async_invocation_returns_202_then_runs(http: aiohttp.ClientSession) -> None:
    st, _, _ = await call(http, "POST", f"{A}/incrementor/actions/add?async=true", {"value": 7})
    assert st == 202
    st, data, _ = await call(http, "POST", f"{A}/incrementor/actions/nope?async=true", {})
    assert (st, code(data)) == (404, "action_not_found")
    for _ in range(100):
        if (await call(http, "GET", f"{A}/incrementor/state"))[1] == {"total": 7}:
            break
        await asyncio.sleep(0.01)
    assert (await call(http, "GET", f"{A}/incrementor/state"))[1] == {"total": 7}


async def test_unknown_route_and_method_are_json(http: aiohttp.ClientSession) -> None:
    st, data, _ = await call(http, "GET", "/v2/whatever")
    assert (st, code(data)) == (404, "not_found")
    st, data, r = await call(http, "GET", f"{A}/incrementor/actions/add")
    assert (st, code(data)) == (405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", "")


async def test_health_readiness_metrics_members_owner(
    http: aiohttp.ClientSession, node: Node
) -> None:
    assert (await call(http, "GET", "/healthz"))[0] == 200
    assert (await call(http, "GET", "/readyz"))[0] == 200
    await call(http, "POST", f"{A}/incrementor/actions/add", {"value": 1})
    st, text, r = await call(http, "GET", "/metrics")
    assert st == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert (
        'roost_invocations_total{action="add",outcome="ok",system="spawn-system",'
        'type="incrementor"} 1.0' in text
    )
    assert "roost_invocation_duration_seconds_bucket" in text
    st, data, _ = await call(http, "GET", "/v1/cluster/members")
    assert st == 200 and data["version"] >= 1
    assert [(m["id"], m["status"]) for m in data["members"]] == [("http-test", "active")]
    st, data, _ = await call(http, "GET", "/v1/cluster/owner?system=spawn-system&actor=x")
    assert (st, data["owner"]) == (200, "http-test")
    st, data, _ = await call(http, "GET", "/v1/cluster/owner")
    assert (st, code(data)) == (400, "bad_request")


async def test_draining_node_answers_503_with_retry_after(
    http: aiohttp.ClientSession, node: Node
) -> None:
    await call(http, "POST", f"{A}/incrementor/actions/add", {"value": 1})
    await node.core.runtime.flush_all()  # what a drain does first: no activations accepted
    st, data, r = await call(http, "POST", f"{A}/incrementor/actions/add", {"value": 1})
    assert (st, code(data)) == (503, "unavailable")
    assert int(r.headers["Retry-After"]) >= 1


async def test_internal_routes_refuse_unsigned_calls(http: aiohttp.ClientSession) -> None:
    st, data, _ = await call(
        http,
        "POST",
        "/internal/v1/systems/spawn-system/actors/incrementor/actions/add",
        {"value": 1},
    )
    assert (st, code(data)) == (401, "unauthorized")
    st, data, _ = await call(http, "GET", f"{A}/incrementor/state")
    assert data == {"total": 0}
