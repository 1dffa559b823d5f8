"""Typed actions over HTTP: their schemas in the OpenAPI document and `/v1/systems`, and bad
payloads answered 400 naming the field, with nothing run and nothing changed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from examples.counters import Incrementor
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.node.openapi import OPENAPI_PATH, document
from roost.node.openapi_typed import TYPED, to_openapi30
from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActorType
from tests.conftest import free_port
from tests.sdk.typed_actors import Counter, Warehouse

A = "/v1/systems/spawn-system/actors"
ADD = f"{A}/typed-counter/actions/add"


def _systems() -> dict[str, SystemTypes]:
    types = [ActorType.from_class(c) for c in (Counter, Warehouse, Incrementor)]
    return {"spawn-system": SystemTypes.build("spawn-system", types)}


def test_typed_document_is_valid_openapi_with_each_typed_action() -> None:
    doc = document(_systems())
    validate(doc)
    op = doc["paths"][ADD]["post"]
    assert op[TYPED] is True
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Add"
    }
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Total"
    }
    assert "requestBody" not in doc["paths"][f"{A}/typed-counter/actions/get"]["post"]
    put = doc["paths"][f"{A}/{{actor}}/actions/put"]["post"]  # unnamed: any instance
    assert {"$ref": "#/components/parameters/actor"} in put["parameters"]
    schemas = doc["components"]["schemas"]
    assert schemas["Add"]["required"] == ["value"]
    assert schemas["Order"]["properties"]["qty"]["exclusiveMinimum"] is True  # 3.0 dialect
    assert not any("incrementor" in p for p in doc["paths"])  # untyped: the generic route only
    plain = document()
    assert set(doc["paths"]) - set(plain["paths"]) == {
        p for p, item in doc["paths"].items() if item.get("post", {}).get(TYPED)
    }


def test_json_schema_becomes_openapi_3_0() -> None:
    src = {
        "anyOf": [{"type": "integer"}, {"type": "null"}],
        "properties": {"const": {"const": 1}, "t": {"prefixItems": [{}], "type": "array"}},
        "examples": [1],
    }
    assert to_openapi30(src) == {
        "type": "integer",
        "nullable": True,
        "properties": {"const": {"enum": [1]}, "t": {"items": {}, "type": "array"}},
    }
    assert to_openapi30({"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}) == {
        "allOf": [{"$ref": "#/x"}],
        "nullable": True,
    }


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    cfg = NodeConfig(
        node_id="typed-http", http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db", statestore_key=key, max_body=65536,
        proxy_http="off",
    )  # fmt: skip
    n = Node(cfg, actor_classes=[Counter, Warehouse, Incrementor])
    await n.start()
    yield n
    await n.drain()


@pytest.fixture
async def http(node: Node) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=f"http://{node.config.http}") as s:
        yield s


async def post(http: aiohttp.ClientSession, path: str, body: bytes) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    async with http.post(path, data=body, headers=headers) as r:
        return r.status, await r.json()


async def test_node_serves_and_lists_the_typed_schemas(http: aiohttp.ClientSession) -> None:
    async with http.get(OPENAPI_PATH) as r:
        doc = await r.json()
    assert ADD in doc["paths"]
    async with http.get("/v1/systems") as r:
        systems = await r.json()
    types = {t["name"]: t for s in systems["systems"] for t in s["actor_types"]}
    assert types["typed-counter"]["action_schemas"]["add"]["request"] == {
        "$ref": "#/components/schemas/Add"
    }
    assert "Tally" in types["typed-counter"]["schemas"]
    assert "action_schemas" not in types["incrementor"]


def _deep(n: int) -> bytes:
    tree: dict[str, Any] = {"label": "leaf"}
    for _ in range(n):
        tree = {"label": "x", "children": [tree]}
    return json.dumps(tree).encode()


BAD = [
    (ADD, b'{"value": "x"}', "payload.value: expected integer, got string"),
    (ADD, b"{}", "payload.value: field required"),
    (ADD, b'{"value": 1, "admin": true}', "payload.admin: unexpected field"),
    (ADD, b"", "payload: Add required"),
    (ADD, b"[1, 2]", "payload: expected object (Add), got array"),
    (ADD, b'{"value": 1e400}', "malformed JSON body"),
    (ADD, b'{"value": ' * 3000 + b"1" + b"}" * 3000, "malformed JSON body"),
    (f"{A}/typed-counter/actions/depth", _deep(300), "nested too deeply"),
]


@pytest.mark.parametrize(("path", "body", "message"), BAD)
async def test_bad_typed_payloads_are_400_and_change_nothing(
    http: aiohttp.ClientSession, path: str, body: bytes, message: str
) -> None:
    status, data = await post(http, ADD, b'{"value": 2}')
    assert (status, data) == (200, {"total": 2})
    status, data = await post(http, path, body)
    assert status == 400, data
    assert data["error"]["code"] == "bad_request"
    assert message in data["error"]["message"]
    async with http.get(f"{A}/typed-counter/state") as r:
        assert await r.json() == {"total": 2, "history": [2]}


async def test_pydantic_payload_errors_name_the_field(http: aiohttp.ClientSession) -> None:
    path = f"{A}/w-1/actions/put?parent=warehouse"
    assert await post(http, path, b'{"sku": "a", "qty": 2}') == (200, {"items": {"a": 2}})
    status, data = await post(http, path, b'{"sku": "a", "qty": -1}')
    assert status == 400
    assert data["error"]["message"].startswith("payload.qty: Input should be greater than 0")
