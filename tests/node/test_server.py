"""The HTTP/1.1 server under the API (roost.node.server), over raw sockets: keep-alive,
pipelining, `Expect: 100-continue`, HEAD, refusal from the head without reading the body, and
malformed requests (a 400 and a closed connection, never a crash)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from roost.errors import Overloaded
from roost.node.request import Request
from roost.node.responses import Reply, json_response
from roost.node.routes import Routes
from roost.node.server import HttpServer

MAX_BODY = 1000


class App:
    """Routes whose handlers record what they saw."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.refuse = False
        self.release = asyncio.Event()
        self.release.set()
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()

    def routes(self) -> Routes:
        r = Routes()
        r.post("/echo/{name}", self.echo, gate=self.gate)
        r.get("/hello", self.hello)
        return r

    def gate(self, request: Request) -> Reply | None:
        if self.refuse:
            raise Overloaded("too busy", retry_after=2.0)
        return None

    async def echo(self, request: Request) -> Reply:
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        body = await request.read()
        self.bodies.append(body)
        return json_response({"name": request.match_info["name"], "len": len(body)})

    async def hello(self, request: Request) -> Reply:
        return json_response({"q": dict(request.query)})


@pytest.fixture
async def served() -> AsyncIterator[tuple[App, int]]:
    app = App()
    server = HttpServer(app.routes(), max_body=MAX_BODY)
    await server.start("127.0.0.1", 0)
    yield app, server.port
    await server.close(timeout=1.0)


async def _read_reply(r: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    line = await r.readline()
    assert line.startswith(b"HTTP/1.1 "), line
    status = int(line.split()[1])
    headers: dict[str, str] = {}
    while (h := await r.readline()) != b"\r\n":
        k, _, v = h.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    return status, headers, await r.readexactly(n)


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


async def test_keep_alive_and_pipelining_answer_in_order(served: tuple[App, int]) -> None:
    _, port = served
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(
        _post("/echo/a", b"x" * 3) + _post("/echo/b", b"y" * 5) + b"GET /hello?k=v HTTP/1.1\r\n\r\n"
    )
    replies = [await _read_reply(r) for _ in range(3)]
    assert [orjson.loads(b) for _, _, b in replies] == [
        {"name": "a", "len": 3},
        {"name": "b", "len": 5},
        {"q": {"k": "v"}},
    ]
    assert all(h.get("x-request-id") for _, h, _ in replies)
    assert all("date" in h and "connection" not in h for _, h, _ in replies)
    w.write(_post("/echo/c", b"z"))  # the same connection goes on
    assert (await _read_reply(r))[0] == 200
    w.close()


async def test_expect_100_continue(served: tuple[App, int]) -> None:
    _, port = served
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(_post("/echo/a", b"", "Expect: 100-continue\r\n").replace(b"Length: 0", b"Length: 4"))
    assert await r.readline() == b"HTTP/1.1 100 Continue\r\n"
    assert await r.readline() == b"\r\n"
    w.write(b"abcd")
    status, _, body = await _read_reply(r)
    assert (status, orjson.loads(body)) == (200, {"name": "a", "len": 4})
    w.close()


async def test_refusal_comes_from_the_head_without_the_body(served: tuple[App, int]) -> None:
    app, port = served
    app.refuse = True
    r, w = await asyncio.open_connection("127.0.0.1", port)
    # the head only: the 429 must come although the 500-byte body was never sent
    w.write(b"POST /echo/a HTTP/1.1\r\nContent-Length: 500\r\n\r\n")
    status, headers, body = await asyncio.wait_for(_read_reply(r), 5)
    assert status == 429 and headers["retry-after"] == "2"
    assert orjson.loads(body)["error"]["code"] == "overloaded"
    w.write(b"x" * 500)  # the rest is read and dropped: the connection stays usable
    app.refuse = False
    w.write(_post("/echo/b", b"ok"))
    status, _, body = await _read_reply(r)
    assert (status, orjson.loads(body)) == (200, {"name": "b", "len": 2})
    assert app.bodies == [b"ok"]
    w.close()


async def test_refused_100_continue_closes_the_connection(served: tuple[App, int]) -> None:
    app, port = served
    app.refuse = True
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /echo/a HTTP/1.1\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n")
    status, headers, _ = await _read_reply(r)
    assert status == 429 and headers["connection"] == "close"
    assert await r.read() == b""  # no 100 Continue, and closed
    w.close()


async def test_body_over_the_limit_is_413_and_closes(served: tuple[App, int]) -> None:
    app, port = served
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /echo/a HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
    status, headers, body = await _read_reply(r)
    assert status == 413 and headers["connection"] == "close"
    assert orjson.loads(body)["error"]["code"] == "payload_too_large"
    chunks = b"".join(b"100\r\n" + b"x" * 256 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /echo/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    assert (await _read_reply(r))[0] == 413
    assert app.bodies == []
    w.close()


async def test_head_has_the_length_but_no_body(served: tuple[App, int]) -> None:
    _, port = served
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"HEAD /hello HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n")
    line = await r.readline()
    assert line.startswith(b"HTTP/1.1 200")
    head = b""
    while (h := await r.readline()) != b"\r\n":
        head += h
    assert b"Content-Length: 8" in head
    assert (await _read_reply(r))[2] == b'{"q":{}}'  # the next reply follows at once
    w.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /echo/a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        b"GET /hello HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
        b"GET /hello HTTP/1.1\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n",
    ],
)
async def test_malformed_request_is_4xx_and_closes(served: tuple[App, int], raw: bytes) -> None:
    _, port = served
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(raw)
    status, headers, body = await _read_reply(r)
    assert 400 <= status < 500 and headers["connection"] == "close"
    assert orjson.loads(body)["error"]["message"]
    assert await r.read() == b""
    w.close()
    r, w = await asyncio.open_connection("127.0.0.1", port)  # the server goes on
    w.write(b"GET /hello HTTP/1.1\r\n\r\n")
    assert (await _read_reply(r))[0] == 200
    w.close()


async def test_unknown_path_404_and_wrong_method_405(served: tuple[App, int]) -> None:
    _, port = served
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /nope HTTP/1.1\r\n\r\nGET /echo/a HTTP/1.1\r\n\r\n")
    s1, _, b1 = await _read_reply(r)
    s2, h2, b2 = await _read_reply(r)
    assert (s1, orjson.loads(b1)["error"]["code"]) == (404, "not_found")
    assert (s2, orjson.loads(b2)["error"]["code"], h2["allow"]) == (
        405,
        "method_not_allowed",
        "POST",
    )
    w.close()


async def test_a_closed_client_cancels_its_call(served: tuple[App, int]) -> None:
    app, port = served
    app.release.clear()
    _, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(_post("/echo/a", b"x"))
    await asyncio.wait_for(app.entered.wait(), 5)
    w.close()
    await asyncio.wait_for(app.cancelled.wait(), 5)  # cancelled with its connection
    assert app.bodies == []


async def test_a_refused_connection_is_not_read_for_a_moment() -> None:
    """A client that re-sends a refused call at once (ignoring Retry-After) waits REFUSED_PAUSE
    on that connection: refusing it cannot take the loop from the calls being served."""
    app = App()
    app.refuse = True
    server = HttpServer(app.routes(), max_body=MAX_BODY)
    await server.start("127.0.0.1", 0)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(_post("/echo/a", b"x"))
        assert (await _read_reply(r))[0] == 429
        (conn,) = server.conns
        assert conn.held  # reading paused, for REFUSED_PAUSE
        app.refuse = False
        w.write(_post("/echo/b", b"y"))
        assert (await asyncio.wait_for(_read_reply(r), 5))[0] == 200  # then read again
        assert not conn.held
        w.close()
    finally:
        await server.close(timeout=1.0)


async def test_a_body_that_does_not_parse_fails_the_waiting_handler(
    served: tuple[App, int],
) -> None:
    app, port = served
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /echo/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
    await asyncio.wait_for(app.entered.wait(), 5)  # the handler waits for the body
    w.write(b"zz-not-a-chunk\r\n")
    status, headers, body = await asyncio.wait_for(_read_reply(r), 5)
    assert (status, headers["connection"]) == (400, "close")
    assert "could not be read" in orjson.loads(body)["error"]["message"]
    assert await r.read() == b""
    w.close()
