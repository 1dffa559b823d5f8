"""API tokens (ROOST_API_TOKENS): the pure checker, then a real node on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from examples.counters import Incrementor
from roost.errors import ConfigError, Unauthorized
from roost.node.apiauth import CHALLENGE, INVALID, ApiAuth, bearer
from roost.node.client import Client
from roost.node.config import NodeConfig
from roost.node.node import Node
from tests.conftest import free_port
from tests.node.test_http import A, call, code

T1, T2 = "first-token-0123456789", "second-token-0123456789"


def test_bearer_header_parsing() -> None:
    assert bearer(f"Bearer {T1}") == T1
    assert bearer(f"bearer   {T1} ") == T1
    assert bearer(f"Basic {T1}") is None
    assert bearer("Bearer") is None
    assert bearer("Bearer ") is None
    assert bearer(None) is None


def test_every_configured_token_is_valid_and_nothing_else() -> None:
    auth = ApiAuth([T1, T2])
    assert auth.valid(T1) and auth.valid(T2)
    assert not auth.valid(T1[:-1]) and not auth.valid(T1 + "x") and not auth.valid("")
    assert not auth.valid("\udcff-not-utf8-\ud800")  # odd header bytes: refused, never a crash


def test_open_routes_protected_routes_and_the_challenge() -> None:
    auth = ApiAuth([T1])
    for route in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/internal/v1/systems/{system}/broadcast",
    ):
        assert auth.refuse(route, None) is None, route
    for route in ("/v1/systems/{system}/actors/{actor}/actions/{action}", "/ui", None):
        missing = auth.refuse(route, None)
        assert isinstance(missing, Unauthorized) and missing.details["challenge"] == CHALLENGE
        wrong = auth.refuse(route, "Bearer wrong-token-0123456789")
        assert isinstance(wrong, Unauthorized) and wrong.details["challenge"] == INVALID
        assert auth.refuse(route, f"Bearer {T1}") is None
    locked = ApiAuth([T1], metrics_open=False)
    assert locked.refuse("/metrics", None) is not None
    assert locked.refuse("/metrics", f"Bearer {T1}") is None


def test_short_tokens_are_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="token 2 has 5 characters"):
        ApiAuth([T1, "short"])


def test_metrics_auth_without_tokens_is_a_config_error(tmp_path: Path, key: str) -> None:
    cfg = NodeConfig(statestore=f"sqlite:///{tmp_path}/r.db", statestore_key=key, metrics_auth=True)
    with pytest.raises(ConfigError, match="needs ROOST_API_TOKENS"):
        Node(cfg, actor_classes=[Incrementor])


def test_tokens_come_from_the_environment_only() -> None:
    import argparse

    from roost.node.config import SECRET_ENV, add_arguments, from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = from_args(parser.parse_args([]), {"ROOST_API_TOKENS": f"{T1}, {T2}"})
    assert cfg.api_tokens == (T1, T2)
    assert "ROOST_API_TOKENS" in SECRET_ENV
    assert T1 not in repr(cfg)
    with pytest.raises(SystemExit):
        parser.parse_args(["--api-tokens", T1])


async def _node(tmp_path: Path, key: str, **settings: object) -> Node:
    cfg = NodeConfig(
        node_id="auth-test",
        http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db",
        statestore_key=key,
        api_tokens=(T1, T2),
        **settings,  # type: ignore[arg-type]
    )
    node = Node(cfg, actor_classes=[Incrementor])
    await node.start()
    return node


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    n = await _node(tmp_path, key)
    yield n
    await n.drain()


@pytest.fixture
async def http(node: Node) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=f"http://{node.config.http}") as s:
        yield s


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_public_routes_need_a_valid_token(http: aiohttp.ClientSession) -> None:
    add = f"{A}/incrementor/actions/add"
    st, data, r = await call(http, "POST", add, {"value": 1})
    assert (st, code(data)) == (401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == CHALLENGE
    assert r.headers["X-Request-Id"]
    st, data, r = await call(http, "POST", add, {"value": 1}, headers=_bearer("nope" * 5))
    assert (st, code(data)) == (401, "unauthorized")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert (await call(http, "GET", f"{A}/incrementor/state", headers=_bearer(T1)))[1] == {
        "total": 0
    }  # nothing ran without a token
    assert (await call(http, "POST", add, {"value": 1}, headers=_bearer(T1)))[:2] == (
        200,
        {"total": 1},
    )
    assert (await call(http, "POST", add, {"value": 1}, headers=_bearer(T2)))[1] == {"total": 2}
    for path in ("/v1/cluster/members", "/v1/cluster/status", "/ui", "/v1/systems", "/nowhere"):
        st, data, _ = await call(http, "GET", path)
        assert (st, code(data)) == (401, "unauthorized"), path
    st, _, _ = await call(http, "GET", "/v1/cluster/status", headers=_bearer(T1))
    assert st == 200


async def test_health_readiness_metrics_and_the_spec_stay_open(http: aiohttp.ClientSession) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await call(http, "GET", path))[0] == 200, path


async def test_metrics_auth_protects_metrics(tmp_path: Path, key: str) -> None:
    node = await _node(tmp_path, key, metrics_auth=True)
    try:
        async with aiohttp.ClientSession(base_url=f"http://{node.config.http}") as s:
            assert (await call(s, "GET", "/metrics"))[0] == 401
            assert (await call(s, "GET", "/metrics", headers=_bearer(T2)))[0] == 200
            assert (await call(s, "GET", "/healthz"))[0] == 200
    finally:
        await node.drain()


async def test_internal_routes_want_the_cluster_signature_not_a_token(
    http: aiohttp.ClientSession,
) -> None:
    path = f"/internal{A}/incrementor/actions/add"
    for headers in ({}, _bearer(T1)):
        st, data, r = await call(http, "POST", path, {"value": 1}, headers=headers)
        assert (st, code(data)) == (401, "unauthorized")
        assert "cluster signature" in data["error"]["message"]
        assert "WWW-Authenticate" not in r.headers


async def test_the_client_sends_roost_api_token(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://{node.config.http}"
    monkeypatch.delenv("ROOST_API_TOKEN", raising=False)
    async with Client(url) as c:
        with pytest.raises(Unauthorized, match="set ROOST_API_TOKEN"):
            await c.invoke("incrementor", "add", {"value": 1})
    monkeypatch.setenv("ROOST_API_TOKEN", T2)
    async with Client(url) as c:
        assert await c.invoke("incrementor", "add", {"value": 5}) == {"total": 5}
        assert (await c.members())["members"][0]["id"] == "auth-test"
    async with Client(url, token="") as c:  # "" overrides the environment: no token
        with pytest.raises(Unauthorized):
            await c.members()
