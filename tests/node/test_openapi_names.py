"""Classes of the same name from different modules each get their own schema in the OpenAPI
document and in `/v1/systems`, under a name that depends on the set of classes only, and every
`$ref` leads to the right class's fields."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.node.openapi import OPENAPI_PATH, document
from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActorType
from tests.conftest import free_port
from tests.node.twins import bank, shop
from tests.sdk.typed_actors import Counter

REF = "#/components/schemas/"
SHOP = "/v1/systems/spawn-system/actors/twin-shop/actions"
BANK = "/v1/systems/spawn-system/actors/twin-bank/actions"


def _document(*classes: type) -> dict[str, Any]:
    types = [ActorType.from_class(c) for c in classes]
    return document({"spawn-system": SystemTypes.build("spawn-system", types)})


def _refs(value: Any) -> Iterator[str]:
    """Every $ref to a schema in `value`."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(REF):
                yield v
            else:
                yield from _refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v)


def _target(schemas: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The class schema a property's schema refers to (directly, or nullable through allOf)."""
    if "allOf" in schema:
        (schema,) = schema["allOf"]
    ref = schema["$ref"]
    assert ref.startswith(REF), ref
    return schemas[ref.removeprefix(REF)]  # type: ignore[no-any-return]


def _fields(schemas: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    return set(_target(schemas, schema)["properties"])


def _body(op: dict[str, Any]) -> dict[str, Any]:
    return op["post"]["requestBody"]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def _reply(op: dict[str, Any]) -> dict[str, Any]:
    return op["post"]["responses"]["200"]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def test_same_named_classes_each_get_a_component_and_their_refs_resolve() -> None:
    doc = _document(shop.Shop, bank.Bank, Counter)
    validate(doc)
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    for ref in _refs(doc):  # no dangling or self-referring $ref
        assert ref.removeprefix(REF) in schemas, ref
        assert set(schemas[ref.removeprefix(REF)]) != {"$ref"}, ref

    shop_item = _target(schemas, _body(paths[f"{SHOP}/put"]))
    bank_item = _target(schemas, _body(paths[f"{BANK}/pay"]))
    assert set(shop_item["properties"]) == {"sku", "qty", "detail"}
    assert set(bank_item["properties"]) == {"amount", "detail"}
    # nested: each Item's Detail is its own module's
    assert _fields(schemas, shop_item["properties"]["detail"]) == {"color"}
    assert _fields(schemas, bank_item["properties"]["detail"]) == {"iban"}
    # a pydantic model holding the dataclass Item, and a reply of that Item
    transfer = _target(schemas, _body(paths[f"{BANK}/transfer"]))
    assert _fields(schemas, transfer["properties"]["goods"]) == {"sku", "qty", "detail"}
    assert _fields(schemas, transfer["properties"]["item"]) == {"amount", "detail"}
    assert _fields(schemas, _reply(paths[f"{BANK}/transfer"])) == {"sku", "qty", "detail"}
    # a recursive pydantic model is a schema, not a $ref to itself
    account = _target(schemas, _reply(paths[f"{BANK}/pay"]))
    assert _fields(schemas, account["properties"]["subaccounts"]["items"]) == {
        "owner",
        "subaccounts",
    }
    # a class named like one of the document's own schemas leaves that one alone
    assert schemas["Error"] == document()["components"]["schemas"]["Error"]
    assert _fields(schemas, _body(paths[f"{SHOP}/report"])) == {"reason"}

    twins = "tests.node.twins"
    assert {f"{twins}.{m}.{c}" for m in ("shop", "bank") for c in ("Item", "Detail")} <= set(
        schemas
    )
    assert f"{twins}.shop.Error" in schemas
    assert {"Add", "Total", "Tree", "Cart", "Account", "Transfer"} <= set(schemas)  # no clash
    assert "Item" not in schemas and "Detail" not in schemas


def test_names_depend_on_the_classes_not_the_order_they_were_registered_in() -> None:
    one = _document(shop.Shop, bank.Bank, Counter)
    assert _document(Counter, bank.Bank, shop.Shop) == one
    alone = _document(shop.Shop)["components"]["schemas"]
    assert {"Item", "Detail", "Cart"} <= set(alone)  # no other Item: the short name


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    cfg = NodeConfig(
        node_id="names-test", http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db", statestore_key=key, proxy_http="off",
    )  # fmt: skip
    n = Node(cfg, actor_classes=[shop.Shop, bank.Bank, Counter])
    await n.start()
    yield n
    await n.drain()


async def test_systems_listing_names_classes_as_the_document_does(node: Node) -> None:
    async with aiohttp.ClientSession(base_url=f"http://{node.config.http}") as http:
        async with http.get(OPENAPI_PATH) as r:
            doc = await r.json()
        async with http.get("/v1/systems") as r:
            listing = await r.json()
    types = {t["name"]: t for s in listing["systems"] for t in s["actor_types"]}
    components = doc["components"]["schemas"]
    checked = 0
    for tname, base in (("twin-shop", SHOP), ("twin-bank", BANK), ("typed-counter", None)):
        t = types[tname]
        for ref in _refs(t):  # each resolves in the type's own `schemas`, as in the document
            name = ref.removeprefix(REF)
            assert name in t["schemas"], ref
            if name in components:  # (the document has no state-only class: Tally)
                assert set(t["schemas"][name]["properties"]) == set(components[name]["properties"])
                checked += 1
        for action, schemas in t["action_schemas"].items():
            if base is not None and schemas["request"] is not None:
                assert schemas["request"] == _body(doc["paths"][f"{base}/{action}"])
    assert checked >= 10
    shop_type = types["twin-shop"]
    assert shop_type["state_schema"] == {"$ref": f"{REF}Cart"}
    assert shop_type["action_schemas"]["put"]["request"] == {
        "$ref": f"{REF}tests.node.twins.shop.Item"
    }
