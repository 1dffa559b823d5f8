"""Several actor systems: per-system statestores and rings, cross-system pipes, unknown systems,
`GET /v1/systems`, and two clusters calling each other through the gateway."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from roost import Actor, Context, Value, action
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.statestore.crypto import generate_key
from tests.conftest import free_port
from tests.node.fake_cluster import cluster, owned_by


class Shop(Actor):
    """System `shop`: its sale pipes the total to the `billing` system's ledger."""

    name = "cart"
    kind = "unnamed"
    system = "shop"
    durability = "sync"

    @action
    async def buy(self, payload: dict[str, Any], ctx: Context) -> Value:
        total = (ctx.state or {}).get("total", 0) + int(payload["price"])
        return (
            Value()
            .state({"total": total})
            .response({"amount": int(payload["price"]), "cart": ctx.self.name})
            .pipe("ledger", "charge", system="billing")
        )


class Ledger(Actor):
    """System `billing`: keeps every charge, and who (which system) made it."""

    name = "ledger"
    system = "billing"
    durability = "sync"

    @action
    async def charge(self, payload: dict[str, Any], ctx: Context) -> Value:
        caller = None if ctx.caller is None else f"{ctx.caller.system}/{ctx.caller.name}"
        charges = [
            *(ctx.state or {}).get("charges", []),
            {"amount": payload["amount"], "by": caller},
        ]
        return Value().state({"charges": charges}).response({"charged": len(charges)})

    @action
    async def get(self, ctx: Context) -> Value:
        return Value().response((ctx.state or {}).get("charges", []))


async def post(s: aiohttp.ClientSession, base: str, system: str, path: str, body: Any = None,
               **headers: str) -> tuple[int, Any]:  # fmt: skip
    url = f"{base}/v1/systems/{system}/actors/{path}"
    data = b"" if body is None else json.dumps(body).encode()
    async with s.post(url, data=data, headers={"Content-Type": "application/json", **headers}) as r:
        return r.status, await r.json()


def rows(db: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as c:
        return {(s, a) for s, a in c.execute("SELECT system, actor FROM roost_actors")}


async def test_two_systems_with_separate_stores_and_a_cross_system_pipe(
    tmp_path: Path, key: str
) -> None:
    billing_db = tmp_path / "billing.db"
    billing_key = generate_key()
    async with cluster(
        tmp_path, key, ["x1", "x2"], [Shop, Ledger],
        systems=("shop",),
        system_statestore=(("billing", f"sqlite:///{billing_db}"),),
        system_keys=(("billing", billing_key),),
    ) as nodes, aiohttp.ClientSession() as s:  # fmt: skip
        base = f"http://{nodes[0].config.http}"
        for i in range(6):
            st, reply = await post(
                s, base, "shop", f"cart-{i}/actions/buy?parent=cart", {"price": 5}
            )
            assert (st, reply) == (200, {"charged": i + 1})
        st, charges = await post(s, base, "billing", "ledger/actions/get")
        assert st == 200 and len(charges) == 6
        assert {c["by"] for c in charges} == {f"shop/cart-{i}" for i in range(6)}
    shop_rows, billing_rows = rows(tmp_path / "cluster.db"), rows(billing_db)
    assert ("billing", "ledger") in billing_rows and ("billing", "ledger") not in shop_rows
    assert {r for r in shop_rows if r[0] == "shop"} == {("shop", f"cart-{i}") for i in range(6)}
    assert not [r for r in billing_rows if r[0] == "shop"]


async def test_a_system_lives_only_on_the_members_that_host_it(tmp_path: Path, key: str) -> None:
    per_node = {"x2": {"actor_classes": [Shop]}}  # x2 hosts shop only; billing lives on x1
    async with (
        cluster(
            tmp_path, key, ["x1", "x2"], [Shop, Ledger], per_node=per_node, systems=("shop",)
        ) as nodes,
        aiohttp.ClientSession() as s,
    ):
        x1, x2 = nodes
        assert x1.core.router.ring_for("billing").members == ("x1",)
        assert x1.core.router.ring_for("shop").members == ("x1", "x2")
        # a cart on x2 pipes to billing, which only x1 hosts
        cart = owned_by("x2", ["x1", "x2"], "shop", "cart-")
        st, reply = await post(
            s, f"http://{x2.config.http}", "shop", f"{cart}/actions/buy?parent=cart", {"price": 7}
        )
        assert (st, reply) == (200, {"charged": 1})
        assert ("billing", "ledger") in x1.core.runtime.active
        assert not any(k[0] == "billing" for k in x2.core.runtime.active)


async def test_unknown_system_is_404_and_systems_are_listed(tmp_path: Path, key: str) -> None:
    async with (
        cluster(tmp_path, key, ["x1", "x2"], [Shop, Ledger], systems=("shop",)) as nodes,
        aiohttp.ClientSession() as s,
    ):
        base = f"http://{nodes[1].config.http}"
        st, reply = await post(s, base, "nowhere", "ledger/actions/get")
        assert (st, reply["error"]["code"]) == (404, "system_not_found")
        await post(s, base, "billing", "ledger/actions/get")
        async with s.get(f"{base}/v1/systems") as r:
            data = await r.json()
        by_name = {x["name"]: x for x in data["systems"]}
        assert set(by_name) == {"shop", "billing"}
        assert by_name["billing"]["members"] == ["x1", "x2"]
        assert [t["name"] for t in by_name["billing"]["actor_types"]] == ["ledger"]
        assert by_name["shop"]["actor_types"][0]["kind"] == "unnamed"
        total_active = sum(sum(n.core.runtime.counts_by_type().values()) for n in nodes)
        assert total_active == 1
        assert data["remote"] == []


async def test_two_clusters_call_each_other_through_the_gateway(tmp_path: Path) -> None:
    """`shop` runs on one cluster, `billing` on another; each names the other as remote."""
    shop_port, billing_port = free_port(), free_port()

    def config(name: str, port: int, other: str, other_port: int) -> NodeConfig:
        return NodeConfig(
            node_id=f"{name}-node",
            systems=(name,),
            http=f"127.0.0.1:{port}",
            statestore=f"sqlite:///{tmp_path}/{name}.db",
            statestore_key=generate_key(),
            remote_system=((other, f"http://127.0.0.1:{other_port}"),),
        )

    shop = Node(config("shop", shop_port, "billing", billing_port), actor_classes=[Shop])
    billing = Node(config("billing", billing_port, "shop", shop_port), actor_classes=[Ledger])
    await shop.start()
    await billing.start()
    try:
        async with aiohttp.ClientSession() as s:
            st, reply = await post(
                s,
                f"http://127.0.0.1:{shop_port}",
                "shop",
                "c1/actions/buy?parent=cart",
                {"price": 3},
            )
            assert (st, reply) == (200, {"charged": 1})
            # and the other way: billing's node reaches shop's actors through its gateway
            st, reply = await post(
                s, f"http://127.0.0.1:{billing_port}", "shop", "c1/actions/get_state?parent=cart"
            )
            assert (st, reply) == (200, {"total": 3})
            st, reply = await post(s, f"http://127.0.0.1:{billing_port}", "nowhere", "x/actions/y")
            assert (st, reply["error"]["code"]) == (404, "system_not_found")
    finally:
        await shop.drain()
        await billing.drain()


def test_system_settings_are_validated() -> None:
    from roost.errors import ConfigError
    from roost.node.config import _pairs

    assert _pairs("X", "a=sqlite:///a.db;b=postgresql://u@h/db?x=1,2", ";") == (
        ("a", "sqlite:///a.db"),
        ("b", "postgresql://u@h/db?x=1,2"),
    )
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        _pairs("X", "just-a-url", ";")
    with pytest.raises(ConfigError, match="named twice"):
        _pairs("X", "a=1,a=2", ",")
