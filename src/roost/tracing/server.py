"""The server span of a public API request: W3C trace context in from the request headers, out
as the response's `traceparent` (the trace id a caller quotes when asking about a slow call)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Protocol, TypeVar

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from roost.requestctx import request_id
from roost.tracing.propagation import TRACEPARENT, extract
from roost.tracing.spans import kv, span, traceparent


class Response(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> MutableMapping[str, str]: ...


R = TypeVar("R", bound=Response)


async def serve(
    tracer: Tracer,
    headers: Mapping[str, str],
    method: str,
    route: str,
    path: str,
    handler: Callable[[], Awaitable[R]],
) -> R:
    """Run `handler` inside a SERVER span named `METHOD route` (HTTP semantic conventions)."""
    attrs = kv(
        http__request__method=method, http__route=route, url__path=path,
        roost__request_id=request_id(),
    )  # fmt: skip
    with span(tracer, f"{method} {route}", SpanKind.SERVER, attrs, extract(headers)) as s:
        resp = await handler()
        s.set_attribute("http.response.status_code", resp.status)
        if resp.status >= 500:  # a 4xx is the client's error, not the server span's
            s.set_attribute("error.type", str(resp.status))
            s.set_status(Status(StatusCode.ERROR))
        resp.headers[TRACEPARENT] = traceparent(s)
        return resp
