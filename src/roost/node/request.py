"""`Request`: what a route handler sees of one HTTP request, built from the parsed request line
and headers only. The body is read on demand (`read`), so a handler can refuse a call (429,
403, 404) before a byte of it is read, and `Expect: 100-continue` is answered only then.

A leaf module: the handlers and the server both use it; it does no I/O of its own.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from roost.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


class Headers(dict[str, str]):
    """Request headers, looked up case-insensitively (stored lower-cased; repeats joined ", ")."""

    __slots__ = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())


class Request:
    """One request. `match_info` holds the decoded path parameters of the matched route."""

    __slots__ = (
        "_body",
        "_chunks",
        "_continue",
        "_done",
        "_query",
        "_size",
        "_too_large",
        "aborted",
        "canonical",
        "content_length",
        "discard",
        "expect_continue",
        "headers",
        "keep_alive",
        "match_info",
        "max_body",
        "method",
        "path",
        "peercert",
        "query_string",
        "raw_path",
        "state",
    )

    def __init__(
        self,
        method: str,
        raw_path: str,
        path: str,
        query_string: str,
        headers: Headers,
        *,
        keep_alive: bool,
        max_body: int,
        send_continue: Callable[[], None],
        peercert: Any = None,
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.keep_alive = keep_alive
        self.max_body = max_body
        self.peercert = peercert
        self.match_info: dict[str, str] = {}
        self.canonical: str | None = None  # the matched route's pattern
        self.state: Any = None  # what a route's gate worked out, for its handler
        self._query: dict[str, str] | None = None
        cl = dict.get(headers, "content-length")
        self.content_length = int(cl) if cl is not None and cl.isdigit() else None
        expect = dict.get(headers, "expect")
        self.expect_continue = expect is not None and expect.lower() == "100-continue"
        self._continue: Callable[[], None] | None = send_continue if self.expect_continue else None
        self._chunks: list[bytes] = []
        self._size = 0
        self.discard = False  # answered without it: the rest of the body is dropped
        self._too_large = False
        self._body: bytes | None = None
        self._done: asyncio.Future[None] | None = None
        self.aborted: str | None = None

    @property
    def path_qs(self) -> str:
        """The path and query as sent (what a peer signs)."""
        return self.raw_path if not self.query_string else f"{self.raw_path}?{self.query_string}"

    @property
    def query(self) -> Mapping[str, str]:
        """The query parameters, decoded; the first of repeated names wins."""
        q = self._query
        if q is None:
            q = self._query = _parse_query(self.query_string)
        return q

    # --- the body, fed by the server --------------------------------------------------------------

    @property
    def received(self) -> int:
        return self._size

    @property
    def complete(self) -> bool:
        return self._body is not None

    def feed(self, data: bytes) -> None:
        if self._too_large:
            return
        self._size += len(data)
        if self._size > self.max_body:
            self._too_large = True
            self._chunks.clear()
            return
        self._chunks.append(data)

    def finish(self) -> None:
        self._body = b"".join(self._chunks)
        self._chunks.clear()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def abort(self, why: str = "the connection closed during the body") -> None:
        """The body will never be whole (the connection closed, or it did not parse): `read`
        fails, now or when it is called."""
        if self._body is not None:
            return
        self._too_large = False
        self._chunks.clear()
        self.aborted = why
        if self._done is not None and not self._done.done():
            self._done.set_exception(BadRequest(why, close=True))

    async def read(self) -> bytes:
        """The whole body (decoded from gzip/deflate), at most `max_body` bytes."""
        if self.aborted is not None:
            raise BadRequest(self.aborted, close=True)
        if self._body is None:
            if self._continue is not None:  # the client waits for this before it sends
                self._continue()
                self._continue = None
            if self._done is None:
                self._done = asyncio.get_running_loop().create_future()
            await self._done
        if self._too_large:
            raise PayloadTooLarge(f"body exceeds the limit of {self.max_body} bytes")
        assert self._body is not None
        encoding = dict.get(self.headers, "content-encoding")
        if encoding is not None:
            return self._decoded(self._body, encoding.strip().lower())
        return self._body

    def _decoded(self, body: bytes, encoding: str) -> bytes:
        if encoding in ("", "identity"):
            return body
        if encoding not in ("gzip", "deflate", "x-gzip"):
            raise UnsupportedMediaType(
                f"Content-Encoding {encoding[:40]!r} is not supported (gzip, deflate)"
            )
        # gzip; deflate as RFC 9110 means it (zlib-wrapped), or raw, as some clients send it
        tries = (
            (16 + zlib.MAX_WBITS,) if encoding != "deflate" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
        )
        for wbits in tries:
            d = zlib.decompressobj(wbits)
            try:
                out = d.decompress(body, self.max_body + 1)
                break
            except zlib.error as exc:
                err = exc
        else:
            why = f"request body could not be read: not {encoding}: {err}"
            raise BadRequest(why, close=True)
        if len(out) > self.max_body or d.unconsumed_tail:
            raise PayloadTooLarge(f"decoded body exceeds the limit of {self.max_body} bytes")
        return out


def _parse_query(qs: str) -> dict[str, str]:
    """`a=1&b=x%20y` -> {"a": "1", "b": "x y"}; the first of repeated names wins. Plain pairs
    (the usual `parent=tally`) skip the unquoting."""
    out: dict[str, str] = {}
    if not qs:
        return out
    if "%" in qs or "+" in qs or ";" in qs:
        for k, v in parse_qsl(qs, keep_blank_values=True):
            out.setdefault(k, v)
        return out
    for pair in qs.split("&"):
        if pair:
            k, _, v = pair.partition("=")
            out.setdefault(k, v)
    return out
