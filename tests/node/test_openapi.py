"""The OpenAPI document stays true: valid OpenAPI, the same routes as the router, the error codes
of the error tree, the public routes of the token check, and served as built."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

import roost
from examples.counters import Counter, Incrementor
from roost import errors
from roost.node.apiauth import ApiAuth
from roost.node.config import NodeConfig
from roost.node.core import MAX_DELAY_MS
from roost.node.http import MAX_TIMEOUT_MS
from roost.node.node import Node
from roost.node.openapi import ERROR_CODES, OPENAPI_PATH, document
from tests.conftest import free_port

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
ROUTER_ONLY = {"not_found", "method_not_allowed"}  # aiohttp's own 404 and 405, as our JSON


def _config(tmp: Path, key: str, **kw: Any) -> NodeConfig:
    return NodeConfig(
        node_id="openapi-test",
        http=f"127.0.0.1:{free_port()}",
        proxy_http="off",
        statestore=f"sqlite:///{tmp}/roost.db",
        statestore_key=key,
        **kw,
    )


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    n = Node(_config(tmp_path, key), actor_classes=[Incrementor, Counter])
    await n.start()
    yield n
    await n.drain()


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, item in doc["paths"].items() for m in item if m in METHODS}


def test_document_is_valid_openapi_3() -> None:
    doc = document()
    validate(doc)  # raises on any violation of the OpenAPI 3.0 schema
    assert doc["openapi"].startswith("3.0.")
    assert doc["info"]["version"] == roost.__version__


async def test_every_public_route_is_documented_and_only_those(tmp_path: Path, key: str) -> None:
    table = Node(_config(tmp_path, key), actor_classes=[Incrementor]).http_api().routes()
    # the server answers HEAD on every GET route by itself; the document lists the GET
    routes = {(m, p) for m, p in table.routes() if not p.startswith("/internal/")}
    assert ("GET", OPENAPI_PATH) in routes
    assert routes == operations(document())


def test_path_parameters_are_declared() -> None:
    doc = document()
    params = doc["components"]["parameters"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            declared = {
                (params[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p)["name"]
                for p in op.get("parameters", [])
            }
            assert set(re.findall(r"{(\w+)}", path)) <= declared, (method, path)


def test_error_codes_are_those_of_the_error_tree() -> None:
    """Every error Roost sends over HTTP is documented with its status, and every documented
    code is one Roost sends."""

    def tree(cls: type[errors.RoostError]) -> list[type[errors.RoostError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in tree(sub))]

    sent = {(c.status, c.code) for c in tree(errors.RoostError) if c is not errors.ConfigError}
    documented = {(status, code) for status, codes in ERROR_CODES.items() for code in codes}
    assert sent <= documented
    assert {code for _, code in documented - sent} <= ROUTER_ONLY
    responses = document()["components"]["responses"]
    assert {f"E{status}" for status in ERROR_CODES} == set(responses)


def test_public_operations_are_those_the_token_check_lets_through() -> None:
    """`security: []` (no token, ever) exactly where ApiAuth opens the route; everything else
    declares the 401 and 403 that tokens and ACLs can answer."""
    doc = document()
    auth = ApiAuth(["a-token-of-sufficient-length"], metrics_open=False)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            public = op.get("security") == []
            assert public == (auth.refuse(path, None) is None), (method, path)
            refusals = {"401", "403"} <= set(op["responses"])
            assert refusals is not public, (method, path)


async def test_node_serves_the_document(node: Node) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://{node.config.http}{OPENAPI_PATH}") as r,
    ):
        assert r.status == 200
        assert r.content_type == "application/json"
        assert await r.json() == document()


def test_documented_limits_are_the_node_s() -> None:
    params = document()["components"]["parameters"]
    assert params["X-Roost-Timeout-Ms"]["schema"]["maximum"] == MAX_TIMEOUT_MS
    assert params["delay_ms"]["schema"]["maximum"] == MAX_DELAY_MS
