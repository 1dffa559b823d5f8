"""The server span of a public API request: W3C trace context in from the request headers, out
as the response's `traceparent` (the trace id a caller quotes when asking about a slow call).

`server_span` is the transport-neutral form (any HTTP server: it needs the request headers and,
at the end, the status); `serve` wraps a handler whose response has `status` and `headers`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Protocol, TypeVar

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from roost.requestctx import request_id
from roost.tracing.propagation import TRACEPARENT, extract
from roost.tracing.spans import kv, span, traceparent


class Response(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> MutableMapping[str, str]: ...


R = TypeVar("R", bound=Response)


class ServerSpan:
    """The open server span of one request; `done(status)` records the status and returns the
    `traceparent` value for the response."""

    __slots__ = ("span",)

    def __init__(self, s: Span) -> None:
        self.span = s

    def done(self, status: int) -> str:
        s = self.span
        s.set_attribute("http.response.status_code", status)
        if status >= 500:  # a 4xx is the client's error, not the server span's
            s.set_attribute("error.type", str(status))
            s.set_status(Status(StatusCode.ERROR))
        return traceparent(s)


@contextlib.contextmanager
def server_span(
    tracer: Tracer, headers: Mapping[str, str], method: str, route: str, path: str
) -> Iterator[ServerSpan]:
    """A current SERVER span named `METHOD route` (HTTP semantic conventions), continuing the
    caller's `traceparent`/`tracestate` headers."""
    attrs = kv(
        http__request__method=method, http__route=route, url__path=path,
        roost__request_id=request_id(),
    )  # fmt: skip
    with span(tracer, f"{method} {route}", SpanKind.SERVER, attrs, extract(headers)) as s:
        yield ServerSpan(s)


async def serve(
    tracer: Tracer,
    headers: Mapping[str, str],
    method: str,
    route: str,
    path: str,
    handler: Callable[[], Awaitable[R]],
) -> R:
    """Run `handler` inside a server span; its response gets our `traceparent` header."""
    with server_span(tracer, headers, method, route, path) as ss:
        resp = await handler()
        resp.headers[TRACEPARENT] = ss.done(resp.status)
        return resp
