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


async def test_the_gateway_sends_the_remote_clusters_api_token(tmp_path: Path) -> None:
    """`billing`'s cluster requires API tokens; `shop` has its token in ROOST_REMOTE_TOKENS."""
    token = "billing-token-0123456789"
    shop_port, billing_port, wrong_port = free_port(), free_port(), free_port()

    def config(name: str, port: int, **more: Any) -> NodeConfig:
        return NodeConfig(
            node_id=f"{name}-node", systems=(name,), http=f"127.0.0.1:{port}",
            statestore=f"sqlite:///{tmp_path}/{name}.db", statestore_key=generate_key(), **more,
        )  # fmt: skip

    remote = (("billing", f"http://127.0.0.1:{billing_port}"),)
    billing = Node(config("billing", billing_port, api_tokens=(token,)), actor_classes=[Ledger])
    shop = Node(
        config("shop", shop_port, remote_system=remote, remote_tokens=(("billing", token),)),
        actor_classes=[Shop],
    )
    wrong = Node(
        config("wrong", wrong_port, remote_system=remote, remote_tokens=(("billing", "x" * 20),)),
        actor_classes=[Shop],
    )
    nodes = [billing, shop, wrong]
    for n in nodes:
        await n.start()
    try:
        async with aiohttp.ClientSession() as s:
            st, reply = await post(
                s, f"http://127.0.0.1:{billing_port}", "billing", "ledger/actions/get"
            )
            assert (st, reply["error"]["code"]) == (401, "unauthorized")
            st, reply = await post(
                s, f"http://127.0.0.1:{shop_port}", "shop", "c1/actions/buy?parent=cart",
                {"price": 4},
            )  # fmt: skip
            assert (st, reply) == (200, {"charged": 1})
            st, reply = await post(
                s, f"http://127.0.0.1:{billing_port}", "billing", "ledger/actions/get",
                Authorization=f"Bearer {token}",
            )  # fmt: skip
            assert (st, reply) == (200, [{"amount": 4, "by": None}])  # external across clusters
            # a refused token is this cluster's misconfiguration, not the caller's 401
            st, reply = await post(
                s, f"http://127.0.0.1:{wrong_port}", "billing", "ledger/actions/get"
            )
            assert (st, reply["error"]["code"]) == (500, "internal")
            assert "ROOST_REMOTE_TOKENS" in reply["error"]["message"]
    finally:
        for n in nodes:
            await n.drain()


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


# --- cross-system calls from the Python API and the protocol port; `GET /v1/systems` ------------


async def proto_invoke(
    proxy: str,
    system: str,
    actor: str,
    action: str,
    payload: Any = None,
    *,
    caller: tuple[str, str] | None = None,
    parent: str = "",
) -> tuple[int, Any, Any]:
    """A Spawn protocol `InvocationRequest` as an SDK sends it: (HTTP status, status, reply)."""
    from roost.node.spawnproto import protocol_pb2 as P
    from roost.node.spawnproto.wire import JSON_TYPE_1X, any_to_json, json_to_any
    from tests.node.spawnproto.fakehost import OCTET

    q = P.InvocationRequest(action_name=action)
    q.system.name = system
    q.actor.id.name, q.actor.id.system, q.actor.id.parent = actor, system, parent
    if payload is not None:
        q.value.CopyFrom(json_to_any(payload, JSON_TYPE_1X))
    if caller is not None:
        q.caller.name, q.caller.system = caller
    url = f"{proxy}/api/v1/system/{system}/actors/{actor}/invoke"
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, data=q.SerializeToString(), headers=OCTET) as r,
    ):
        out = P.InvocationResponse()
        out.ParseFromString(await r.read())
        reply = any_to_json(out.value) if out.WhichOneof("payload") == "value" else None
        return r.status, out.status, reply


async def test_the_protocol_port_invokes_another_system(tmp_path: Path, key: str) -> None:
    from roost.node.spawnproto import protocol_pb2 as P
    from roost.placement.ring import Ring

    ids = ["x1", "x2"]
    ledger_owner = Ring(ids).owner("billing", "ledger")
    entry_id = next(i for i in ids if i != ledger_owner)  # through the node that must forward
    proxies = {i: f"127.0.0.1:{free_port()}" for i in ids}
    per_node = {i: {"proxy_http": p} for i, p in proxies.items()}
    async with cluster(
        tmp_path, key, ids, [Shop, Ledger], per_node=per_node, systems=("shop",)
    ) as nodes:
        proxy = f"http://{proxies[entry_id]}"
        # a shop actor of a Spawn SDK calls an actor of the billing system
        st, status, reply = await proto_invoke(
            proxy, "billing", "ledger", "charge", {"amount": 4}, caller=("cart-7", "shop")
        )
        assert (st, status.status, reply) == (200, P.OK, {"charged": 1})
        # a shop cart whose action pipes into billing
        st, status, reply = await proto_invoke(
            proxy, "shop", "c1", "buy", {"price": 3}, parent="cart"
        )
        assert (st, status.status, reply) == (200, P.OK, {"charged": 2})
        _, _, charges = await proto_invoke(proxy, "billing", "ledger", "get")
        assert charges == [{"amount": 4, "by": "shop/cart-7"}, {"amount": 3, "by": "shop/c1"}]
        by_id = {n.config.node_id: n for n in nodes}
        assert ("billing", "ledger") in by_id[ledger_owner].core.runtime.active
        assert ("billing", "ledger") not in by_id[entry_id].core.runtime.active
        st, status, _ = await proto_invoke(proxy, "nowhere", "ledger", "get")
        assert (st, status.status) == (404, P.ACTOR_NOT_FOUND) and "nowhere" in status.message


async def test_the_python_api_invokes_another_system() -> None:
    """`ActorSystem.invoke(system=...)`, `roost.invoke(system=...)` and `ctx.invoke(system=...)`
    in one process: the system named by its actors (`billing`) is reachable like the main one."""
    import roost
    from roost.errors import SystemNotFound

    class Till(Actor):
        name = "till"
        system = "shop"

        @action
        async def pay(self, payload: dict[str, Any], ctx: Context) -> Value:
            reply = await ctx.invoke("ledger", "charge", payload, system="billing")
            return Value().response(reply)

    async with roost.ActorSystem("shop", actors=[Shop, Ledger, Till]) as s:
        assert await s.invoke("c1", "buy", {"price": 2}, parent="cart") == {"charged": 1}
        assert await s.invoke("ledger", "charge", {"amount": 5}, system="billing") == {"charged": 2}
        assert await s.invoke("till", "pay", {"amount": 6}) == {"charged": 3}
        assert await roost.invoke("ledger", action="get", system="billing") == [
            {"amount": 2, "by": "shop/c1"},
            {"amount": 5, "by": None},
            {"amount": 6, "by": "shop/till"},
        ]
        # with no system named, the one running system's main one
        assert await roost.invoke("c1", action="get_state", parent="cart") == {"total": 2}
        with pytest.raises(SystemNotFound):
            await s.invoke("ledger", "get", system="nowhere")


async def test_roost_invoke_names_a_system_over_http_and_through_the_gateway(
    tmp_path: Path,
) -> None:
    """`roost.invoke(system=..., url=...)` against a cluster hosting that system, and against
    one that reaches it through its gateway; so does the protocol port."""
    import roost
    from roost.errors import SystemNotFound
    from roost.node.spawnproto import protocol_pb2 as P

    shop_port, billing_port, billing_proxy = free_port(), free_port(), free_port()

    def config(name: str, port: int, other: str, other_port: int, proxy: str) -> NodeConfig:
        return NodeConfig(
            node_id=f"{name}-node", systems=(name,), http=f"127.0.0.1:{port}", proxy_http=proxy,
            statestore=f"sqlite:///{tmp_path}/{name}.db", statestore_key=generate_key(),
            remote_system=((other, f"http://127.0.0.1:{other_port}"),),
        )  # fmt: skip

    shop = Node(config("shop", shop_port, "billing", billing_port, "off"), actor_classes=[Shop])
    billing = Node(
        config("billing", billing_port, "shop", shop_port, f"127.0.0.1:{billing_proxy}"),
        actor_classes=[Ledger],
    )
    await shop.start()
    await billing.start()
    shop_url, billing_url = f"http://127.0.0.1:{shop_port}", f"http://127.0.0.1:{billing_port}"
    try:
        reply = await roost.invoke(
            "ledger", action="charge", payload={"amount": 1}, system="billing", url=billing_url
        )
        assert reply == {"charged": 1}
        reply = await roost.invoke(  # shop's cluster does not host billing: its gateway does
            "ledger", action="charge", payload={"amount": 2}, system="billing", url=shop_url
        )
        assert reply == {"charged": 2}
        # billing's protocol port, naming shop: through billing's gateway to shop's cluster,
        # whose cart pipes back to billing through shop's gateway
        st, status, reply = await proto_invoke(
            f"http://127.0.0.1:{billing_proxy}", "shop", "c1", "buy", {"price": 3}, parent="cart"
        )
        assert (st, status.status, reply) == (200, P.OK, {"charged": 3})
        charges = await roost.invoke("ledger", action="get", system="billing", url=shop_url)
        assert [c["amount"] for c in charges] == [1, 2, 3]
        with pytest.raises(SystemNotFound):
            await roost.invoke("ledger", action="get", system="nowhere", url=shop_url)
    finally:
        await shop.drain()
        await billing.drain()


async def test_systems_listing_counts_active_actors_and_shows_settings(
    tmp_path: Path, key: str
) -> None:
    from roost.placement.ring import Ring

    ids = ["x1", "x2"]
    ring = Ring(ids)
    async with (
        cluster(tmp_path, key, ids, [Shop, Ledger], systems=("shop",)) as nodes,
        aiohttp.ClientSession() as s,
    ):
        via_x2 = f"http://{nodes[1].config.http}"
        carts = [owned_by("x1", ids, "shop", p) for p in ("a-", "b-", "c-")]
        for cart in carts:  # through x2, which forwards each to x1
            st, _ = await post(s, via_x2, "shop", f"{cart}/actions/get_state?parent=cart")
            assert st == 200
        st, _ = await post(s, via_x2, "billing", "ledger/actions/get")
        assert st == 200
        ledger_owner = ring.owner("billing", "ledger")

        async def listing(node: Node) -> dict[str, Any]:
            async with s.get(f"http://{node.config.http}/v1/systems") as r:
                assert r.status == 200
                body = await r.json()
            return {x["name"]: x for x in body["systems"]}

        for node in nodes:
            by_name = await listing(node)
            me = node.config.node_id
            assert by_name["shop"]["active_here"] == ({"cart": 3} if me == "x1" else {})
            assert by_name["billing"]["active_here"] == (
                {"ledger": 1} if me == ledger_owner else {}
            )
            assert by_name["shop"]["hosted_here"] and by_name["billing"]["hosted_here"]
            (ledger,) = by_name["billing"]["actor_types"]
            settings = {
                "name": "ledger",
                "kind": "named",
                "state_type": "json",
                "durability": "sync",
                "deactivate_timeout_ms": 30_000,
                "snapshot_timeout_ms": 10_000,
                "max_mailbox": 1_000,
                "actions": ["charge", "get"],
            }
            assert {k: ledger[k] for k in settings} == settings
            (cart_type,) = by_name["shop"]["actor_types"]
            assert (cart_type["name"], cart_type["kind"], cart_type["durability"]) == (
                "cart",
                "unnamed",
                "sync",
            )
            assert cart_type["actions"] == ["buy"]


async def test_a_memory_statestore_url_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """`statestore="memory://"` is the memory store by URL: nothing outlives the process, so an
    ephemeral key serves, as for `MemoryStore()`; a store that persists still needs a key."""
    import roost
    from examples.counters import Incrementor
    from roost.errors import ConfigError

    monkeypatch.delenv("ROOST_STATESTORE_KEY", raising=False)
    async with roost.ActorSystem("m", actors=[Incrementor], statestore="memory://") as s:
        assert await s.invoke("incrementor", "add", {"value": 2}) == {"total": 2}
    with pytest.raises(ConfigError, match="ROOST_STATESTORE_KEY"):
        roost.ActorSystem("m", actors=[Incrementor], statestore="postgresql://127.0.0.1/test")
