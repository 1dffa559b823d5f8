"""W3C trace context in and out of a metadata map (or a headers mapping).

Both functions cost one `sys.modules` lookup when OpenTelemetry was never imported (tracing off
and no user code using it): then there is no current span to carry, and nothing to continue.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


def inject(metadata: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """`metadata` plus the current span's `traceparent`/`tracestate` (a new dict; the caller's map
    is never changed). Unchanged when there is no valid current span."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None or not trace.get_current_span().get_span_context().is_valid:
        return metadata
    from opentelemetry import propagate

    out = dict(metadata) if metadata else {}
    propagate.inject(out)
    return out


def extract(carrier: Mapping[str, str] | None) -> Any:
    """The OpenTelemetry `Context` a `traceparent` in `carrier` (metadata, or request headers)
    names, or None when it holds none (or OpenTelemetry is not loaded)."""
    if not carrier or sys.modules.get("opentelemetry.trace") is None:
        return None
    if TRACEPARENT not in carrier:
        # HTTP headers may arrive in any case; metadata keys are the lower-case W3C names
        lowered = {k.lower(): v for k, v in carrier.items()}
        if TRACEPARENT not in lowered:
            return None
        carrier = lowered
    from opentelemetry import propagate, trace

    ctx = propagate.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def headers() -> dict[str, str]:
    """The current span's `traceparent`/`tracestate` as HTTP headers (none when no span), for a
    call that leaves the mesh through another cluster's public API."""
    return dict(inject({}) or {})
