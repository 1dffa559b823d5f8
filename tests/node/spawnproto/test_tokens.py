"""With ROOST_API_TOKENS set, the Spawn protocol port (which takes no token: Spawn SDKs send
none) serves only actor hosts on the node's own machine; anyone else is refused, so the port
cannot open every actor, nor let a caller name itself to the ACLs."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from examples.counters import Incrementor
from roost.node.node import Node
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.server import ProtocolApi
from tests.node.spawnproto.test_node import _config, invoke

TOKEN = "a-token-of-enough-length-0123456789"


class Peer:
    """A transport whose peer is at `addr` (what `request.remote` reads)."""

    def __init__(self, addr: str) -> None:
        self.addr = addr

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.addr, 40000) if name == "peername" else default


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    cfg = dataclasses.replace(_config(tmp_path, key), api_tokens=(TOKEN,))
    n = Node(cfg, actor_classes=[Incrementor])
    await n.start()
    yield n
    await n.drain()


async def _through(app: web.Application, addr: str, path: str) -> web.StreamResponse:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="served")

    request = make_mocked_request("POST", path, app=app, transport=Peer(addr))
    (middleware,) = app.middlewares
    return await middleware(request, handler)


async def test_a_caller_from_another_machine_is_refused(node: Node) -> None:
    app = ProtocolApi(node.spawnproto).app()
    refused = await _through(
        app, "10.1.2.3", f"/api/v1/system/{node.config.system}/actors/a/invoke"
    )
    assert isinstance(refused, web.Response) and refused.status == 401
    out = P.InvocationResponse.FromString(refused.body)  # type: ignore[arg-type]
    assert out.status.status == P.ERROR and "own machine" in out.status.message
    local = await _through(app, "127.0.0.1", "/api/v1/system/x/actors/a/invoke")
    assert isinstance(local, web.Response) and local.text == "served"


async def test_actor_hosts_on_the_same_machine_are_served(node: Node) -> None:
    status, out, _ = await invoke(node, "incrementor", "add", {"value": 4})
    assert (status, out.status.status) == (200, P.OK)


async def test_without_tokens_the_port_is_open_as_before(tmp_path: Path, key: str) -> None:
    n = Node(_config(tmp_path, key), actor_classes=[Incrementor])
    assert len(ProtocolApi(n.spawnproto).app().middlewares) == 0
