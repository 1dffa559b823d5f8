"""Span helpers for the traced paths: starting a span under the right parent, and recording
how a call failed. Imported only when tracing is on (it imports OpenTelemetry)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from roost.errors import RoostError
from roost.tracing.propagation import extract

# Not failures: the router places the call again (another node, or after a handoff)
REROUTED = frozenset({"not_owner", "lease_held", "state_conflict", "not_placed"})
Attrs = Mapping[str, AttributeValue]


def remote_parent(metadata: Mapping[str, str] | None) -> Context | None:
    """The parent for a span where a call arrives: the current span when one is active (the call
    came from this process), else the `traceparent` its metadata carries (it came from another
    node, the scheduler's row or a Spawn host), else None (a new trace)."""
    if trace.get_current_span().get_span_context().is_valid:
        return None
    ctx: Context | None = extract(metadata)
    return ctx


def failed(span: Span, exc: BaseException) -> None:
    """Record an error on `span`: its Roost code as `error.type` (the semantic convention) and
    `roost.error.code`; a rerouted call (moved actor, lease elsewhere) is noted, not an error."""
    if isinstance(exc, RoostError):
        if exc.code in REROUTED:
            span.set_attribute("roost.rerouted", exc.code)
            return
        span.set_attribute("error.type", exc.code)
        span.set_attribute("roost.error.code", exc.code)
        span.set_attribute("roost.error.status", exc.status)
        span.set_status(Status(StatusCode.ERROR, exc.message))
    elif isinstance(exc, asyncio.CancelledError):
        span.set_attribute("error.type", "cancelled")
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
    else:
        span.set_attribute("error.type", type(exc).__qualname__)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc)))


@contextlib.contextmanager
def span(
    tracer: Tracer,
    name: str,
    kind: SpanKind,
    attrs: Attrs,
    parent: Context | None = None,
    links: Sequence[Link] = (),
) -> Iterator[Span]:
    """A current span for the block; an exception leaving it is recorded by `failed`."""
    with tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attrs, links=links,
        record_exception=False, set_status_on_exception=False,
    ) as s:  # fmt: skip
        try:
            yield s
        except BaseException as exc:
            failed(s, exc)
            raise


def link_to(ctx: Context | None, why: str) -> list[Link]:
    """A link to the span `ctx` names (e.g. the span that scheduled a call), or none."""
    if ctx is None:
        return []
    sc = trace.get_current_span(ctx).get_span_context()
    return [Link(sc, {"roost.link": why})] if sc.is_valid else []


def traceparent(s: Span) -> str:
    """The W3C `traceparent` naming `s` (for a response header)."""
    sc = s.get_span_context()
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"


def kv(**attrs: Any) -> dict[str, AttributeValue]:
    """Attributes without the Nones (OpenTelemetry refuses None values)."""
    return {k.replace("__", "."): v for k, v in attrs.items() if v is not None}
