"""Distributed tracing on OpenTelemetry: off unless configured, one connected trace per call.

A call's trace context rides in the invocation's `metadata` map under the W3C keys `traceparent`
and `tracestate`: that map already crosses every hop (forwards, broadcasts, the scheduler's stored
row, Spawn's InvocationRequest metadata), so no transport needs tracing code of its own. Within a
process the current span travels in OpenTelemetry's `ContextVar`, which asyncio copies into every
task a call starts (effects, deliveries, async calls).

The OpenTelemetry packages (the `tracing` extra) are imported only when tracing is configured:
with it off a node holds `OFF`, whose `on` is False, and nothing on a call's path is wrapped.
"""

from roost.tracing.logfilter import TraceFilter
from roost.tracing.propagation import TRACEPARENT, TRACESTATE, extract, headers, inject
from roost.tracing.setup import OFF, Tracing, from_config, is_configured

__all__ = [
    "OFF",
    "TRACEPARENT",
    "TRACESTATE",
    "TraceFilter",
    "Tracing",
    "extract",
    "from_config",
    "headers",
    "inject",
    "is_configured",
]
