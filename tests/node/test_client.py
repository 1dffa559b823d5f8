"""The Python client sends a call refused with 429 again (nothing ran), after the node's
Retry-After, a bounded number of times; it never re-sends any other error."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from roost.errors import Overloaded, Unavailable
from roost.node.client import Client
from tests.conftest import free_port


class Node:
    """A stand-in node: answers the first `refuse` calls with `status`, then 200."""

    def __init__(self) -> None:
        self.refuse = 0
        self.status = 429
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.calls <= self.refuse:
            code = "overloaded" if self.status == 429 else "unavailable"
            body = {"error": {"code": code, "message": f"{code}, try later"}}
            return web.json_response(body, status=self.status, headers={"Retry-After": "0"})
        payload = orjson.loads(await request.read())
        return web.json_response({"total": payload["value"]})


@pytest.fixture
async def node() -> AsyncIterator[tuple[Node, str]]:
    fake = Node()
    app = web.Application()
    app.router.add_post("/v1/systems/{system}/actors/{actor}/actions/{action}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_shed_call_is_sent_again_after_retry_after(node: tuple[Node, str]) -> None:
    fake, url = node
    fake.refuse = 2
    async with Client(url, token="") as c:
        assert await c.invoke("incrementor", "add", {"value": 3}) == {"total": 3}
    assert fake.calls == 3


async def test_retries_are_bounded(node: tuple[Node, str]) -> None:
    fake, url = node
    fake.refuse = 10
    async with Client(url, token="", retries=2) as c:
        with pytest.raises(Overloaded) as err:
            await c.invoke("incrementor", "add", {"value": 3})
    assert fake.calls == 3
    assert err.value.retry_after == 0.0  # the node's Retry-After, read from the header


async def test_other_errors_are_never_sent_again(node: tuple[Node, str]) -> None:
    fake, url = node
    fake.refuse, fake.status = 1, 503  # may have run (a commit in doubt): not the client's call
    async with Client(url, token="") as c:
        with pytest.raises(Unavailable):
            await c.invoke("incrementor", "add", {"value": 3})
    assert fake.calls == 1
