"""The node's HTTP/1.1 server: an asyncio protocol on httptools (llhttp, the parser uvicorn and
Node.js use), serving the API's route table without aiohttp's request objects or middleware.

Per connection, requests are answered in order (keep-alive and pipelining as HTTP/1.1 says);
the body is read only when a handler asks for it, so a route's gate (admission, names) refuses a
call from the request line and headers alone, with no task and no body read. A request that
does not parse is a 400 and a closed connection. The headers every reply carries are written in
one place, `_head`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools

from roost.errors import RoostError, Unauthorized
from roost.node.apiauth import ApiAuth
from roost.node.request import Headers, Request
from roost.node.responses import Reply, error_body, error_response
from roost.node.routes import Route, Routes
from roost.requestctx import HEADER as REQUEST_ID
from roost.requestctx import RequestInfo, accept_id, current

log = logging.getLogger("roost.http")

INTERNAL_PREFIX = "/internal/"
KEEPALIVE = 75.0  # s an idle connection stays open (aiohttp's and nginx's default)
HEAD_TIMEOUT = 30.0  # s a started request may take to send its request line and headers
SWEEP_EVERY = 5.0
MAX_URL = 8192
MAX_HEADERS = 65536  # bytes of header names and values in one request
MAX_PIPELINED = 32  # requests parsed ahead of the one being answered before reading pauses
DISCARD_MAX = 65536  # unread body bytes still read and dropped to keep a connection open
# After a 429 the connection is not read for this long: a client that re-sends at once, ignoring
# Retry-After, cannot keep the loop busy refusing it (goodput under overload stays near capacity).
REFUSED_PAUSE = 0.05

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_RID = REQUEST_ID.lower()


class _Clock:
    """The `Date` header, formatted once a second."""

    __slots__ = ("line", "second")

    def __init__(self) -> None:
        self.second = 0
        self.line = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.line = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self.line


class HttpServer:
    """Serves `routes` on one listener. `stamp` returns header lines (each ending CRLF) that
    every reply carries besides the request id (e.g. the ring version the node routes with)."""

    _loop: asyncio.AbstractEventLoop  # the loop `start` ran on

    def __init__(
        self,
        routes: Routes,
        *,
        max_body: int,
        auth: ApiAuth | None = None,
        mutual_tls: bool = False,
        stamp: Callable[[], str] | None = None,
    ) -> None:
        self.routes = routes
        self.max_body = max_body
        self.auth = auth
        self.mutual_tls = mutual_tls
        self.stamp = stamp
        self.clock = _Clock()
        self.conns: set[_Conn] = set()
        self.draining = False  # replies say Connection: close
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(
        self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Conn(self), host, port, reuse_address=True, backlog=1024, ssl=ssl_context
        )
        self._sweeper = loop.create_task(self._sweep(), name="http idle sweep")

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop_listening(self) -> None:
        """No new connections. Open ones are still served (closing an idle one would race a
        request the client is sending on it) and each reply says Connection: close."""
        self.draining = True
        if self._server is not None:
            self._server.close()

    async def shutdown(self, timeout: float) -> None:
        """Stop listening, give the requests in progress `timeout` s, then cancel them and
        close every connection."""
        await self.stop_listening()
        tasks = [c.task for c in self.conns if c.task is not None and not c.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for c in list(self.conns):
            if c.task is not None:
                c.task.cancel()
            c.close()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def close(self, timeout: float = 5.0) -> None:
        await self.shutdown(timeout)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            await self._server.wait_closed()

    async def _sweep(self) -> None:
        """Close connections idle past KEEPALIVE, or slower than HEAD_TIMEOUT with a head."""
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            now = time.monotonic()
            for c in list(self.conns):
                if c.idle() and now - c.last > KEEPALIVE:
                    c.close()
                elif c.heading and now - c.last > HEAD_TIMEOUT:
                    c.fail(408, "request_timeout", "the request's head took too long")

    # --- answering --------------------------------------------------------------------------

    def dispatch(self, conn: _Conn, req: Request) -> None:
        """Route a request whose head is parsed: refuse it at once (no route, no token, a gate
        said no) or start its handler."""
        route, params, allowed = self.routes.match(req.method, req.raw_path)
        rid = accept_id(dict.get(req.headers, _RID))
        reply: Reply | None = None
        if route is not None:
            req.match_info = params
            req.canonical = route.pattern
        try:
            if self.auth is not None:
                denied = self.auth.refuse(req.canonical, req.headers.get("authorization"))
                if denied is not None:
                    reply = error_response(denied)
            if reply is None:
                reply = self._precheck(req, route, allowed)
            if reply is None and route is not None and route.gate is not None:
                reply = route.gate(req)
        except RoostError as exc:
            reply = error_response(exc)
        if reply is not None or route is None:
            conn.respond(req, rid, reply or error_body(500, "internal", "no route"))
            return
        conn.task = self._loop.create_task(self._run(conn, req, route, rid))

    def _precheck(self, req: Request, route: Route | None, allowed: list[str]) -> Reply | None:
        if route is None:
            what = f"{req.method} {req.path}"
            if allowed:
                body = error_body(405, "method_not_allowed", f"Method Not Allowed: {what}")
                body.headers = {"Allow": ",".join(sorted(set(allowed)))}
                return body
            return error_body(404, "not_found", f"Not Found: {what}")
        if self.mutual_tls and req.path.startswith(INTERNAL_PREFIX) and not req.peercert:
            return error_response(
                Unauthorized("internal route: a client certificate signed by --tls-ca is required")
            )
        n = req.content_length
        if n is not None and n > self.max_body:
            return error_response(
                _too_large(f"body of {n} bytes exceeds the limit of {self.max_body} bytes")
            )
        return None

    async def _run(self, conn: _Conn, req: Request, route: Route, rid: str) -> None:
        mi = req.match_info
        current.set(RequestInfo(rid, mi.get("system"), mi.get("actor")))  # this task's context
        try:
            reply = await route.handler(req)
        except RoostError as exc:
            reply = error_response(exc)
        except Exception:
            log.exception("%s %s failed", req.method, req.path)
            reply = error_body(500, "internal", "internal error (logged on the node)")
        conn.respond(req, rid, reply)

    def head(self, rid: str, reply: Reply, close: bool) -> bytes:
        """Status line and headers of a reply: the one place the common headers are added."""
        status = reply.status
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
            f"Content-Length: {len(reply.body)}\r\n"
            f"{REQUEST_ID}: {rid}\r\n"
        ]
        if reply.content_type is not None:
            lines.append(f"Content-Type: {reply.content_type}\r\n")
        if reply.headers:
            lines.extend(f"{k}: {v}\r\n" for k, v in reply.headers.items())
        if self.stamp is not None:
            lines.append(self.stamp())
        if close:
            lines.append("Connection: close\r\n")
        return "".join(lines).encode("latin-1", "replace") + self.clock.date() + b"\r\n"


def _too_large(message: str) -> RoostError:
    from roost.errors import PayloadTooLarge

    return PayloadTooLarge(message, close=True)


class _Conn(asyncio.Protocol):
    """One client connection: parses requests and answers them in order."""

    def __init__(self, server: HttpServer) -> None:
        self.s = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peercert: Any = None
        self.url = b""
        self.headers = Headers()
        self.head_size = 0
        self.heading = False  # a request's head is arriving
        self.parsing: Request | None = None  # the request whose body is arriving
        self.current: Request | None = None  # the request being answered
        self.queue: deque[Request] = deque()
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self.paused = False  # reading paused: too many pipelined requests
        self.held = False  # reading paused: the last reply was a 429
        self.close_after = False
        self.last = time.monotonic()

    def idle(self) -> bool:
        return self.current is None and not self.heading and self.parsing is None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's too)
        if self.s.mutual_tls:
            self.peercert = transport.get_extra_info("peercert")
        self.s.conns.add(self)
        if self.s.draining:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.s.conns.discard(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()  # the caller is gone: its call is cancelled (and rolled back)
        for req in (self.parsing, *self.queue):
            if req is not None:
                req.abort()

    def data_received(self, data: bytes) -> None:
        self.last = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(400, "bad_request", "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _TooBig):
                self.fail(cause.status, "bad_request", str(cause))
            elif cause is not None and not isinstance(cause, httptools.HttpParserError):
                log.error("HTTP request handling failed", exc_info=cause)
                self.fail(500, "internal", "internal error (logged on the node)")
            else:
                self.fail(400, "bad_request", f"malformed request: {exc}")

    # --- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = Headers()
        self.head_size = 0
        self.heading = True

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_URL:
            raise _TooBig(414, "the request target is longer than 8192 bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value)
        if self.head_size > MAX_HEADERS:
            raise _TooBig(431, "the request headers are larger than 64 KiB")
        k = name.lower().decode("latin-1")
        headers = self.headers
        old = dict.get(headers, k)
        val = value.decode("latin-1")
        headers[k] = val if old is None else f"{old}, {val}"  # repeats join, as RFC 9110 says

    def on_headers_complete(self) -> None:
        self.heading = False
        headers = self.headers
        raw = self.url.decode("latin-1")
        if not raw.startswith("/"):  # absolute-form (a proxy's), or `*`
            if raw.startswith(("http://", "https://")):
                parsed = httptools.parse_url(self.url)
                raw = (parsed.path or b"/").decode("latin-1")
                if parsed.query:
                    raw += "?" + parsed.query.decode("latin-1")
            else:
                raise _TooBig(400, f"request target {raw[:60]!r} is not a path")
        raw_path, _, qs = raw.partition("?")
        qs = qs.partition("#")[0]
        req = Request(
            self.parser.get_method().decode("ascii"),
            raw_path,
            unquote(raw_path) if "%" in raw_path else raw_path,
            qs,
            headers,
            keep_alive=self.parser.should_keep_alive(),
            max_body=self.s.max_body,
            send_continue=self._send_continue,
            peercert=self.peercert,
        )
        self.parsing = req
        if self.current is None:
            self.current = req
            self.s.dispatch(self, req)
        else:
            self.queue.append(req)
            if len(self.queue) >= MAX_PIPELINED and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()

    def on_body(self, body: bytes) -> None:
        req = self.parsing
        if req is not None and not req.discard:
            req.feed(body)

    def on_message_complete(self) -> None:
        req = self.parsing
        self.parsing = None
        if req is not None:
            req.finish()

    # --- replies ------------------------------------------------------------------------------

    def _send_continue(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def respond(self, req: Request, rid: str, reply: Reply) -> None:
        """Write the reply to `req` (the current request), then start the next one."""
        self.task = None
        if self.closed or self.transport is None:
            return
        keep = req.keep_alive and not reply.close and not self.s.draining and not self.close_after
        if keep and not req.complete:
            # answered without its body (a refusal): read and drop a small rest, else close,
            # and always close when the client waits for 100-continue it will not get
            chunked = "transfer-encoding" in req.headers
            left = None if chunked else (req.content_length or 0) - req.received
            if req.expect_continue or left is None or left > DISCARD_MAX:
                keep = False
            else:
                req.discard = True
        body = b"" if req.method == "HEAD" else reply.body
        self.transport.write(self.s.head(rid, reply, not keep) + body)
        self.current = None
        if not keep:
            self.close()
            return
        if reply.status == 429 and not self.held:
            self.held = True
            self.transport.pause_reading()
            self.s._loop.call_later(REFUSED_PAUSE, self._unhold)
        if self.queue:
            nxt = self.queue.popleft()
            if self.paused and len(self.queue) < MAX_PIPELINED // 2:
                self.paused = False
                if not self.held:
                    self.transport.resume_reading()
            self.current = nxt
            self.s.dispatch(self, nxt)

    def _unhold(self) -> None:
        self.held = False
        if not self.closed and not self.paused and self.transport is not None:
            self.transport.resume_reading()

    def fail(self, status: int, code: str, message: str) -> None:
        """An unparseable request: answer it (after any reply still owed) and close."""
        if self.closed:
            return
        if self.transport is not None:
            self.transport.pause_reading()  # the parser is past repair: read nothing more
        if self.parsing is not None:  # a handler waiting for this body gets a 400
            self.parsing.abort(f"request body could not be read: {message}")
        if self.current is not None:  # owed a reply first: it goes out, then we close
            self.queue.clear()
            self.close_after = True
            return
        reply = error_body(status, code, message)
        if self.transport is not None:
            self.transport.write(self.s.head(accept_id(None), reply, True) + reply.body)
        self.close()


class _TooBig(Exception):
    """Raised from a parser callback: the request is refused with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
