"""`TraceFilter`: log lines written inside a traced call carry its trace and span ids."""

from __future__ import annotations

import logging
import sys


class TraceFilter(logging.Filter):
    """Stamps `trace_id` and `span_id` (hex, as trace backends show them) onto a record written
    while a span is current. Never drops a record; free when OpenTelemetry is not loaded."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace = sys.modules.get("opentelemetry.trace")
        if trace is not None:
            ctx = trace.get_current_span().get_span_context()
            if ctx.is_valid:
                d = record.__dict__
                d.setdefault("trace_id", format(ctx.trace_id, "032x"))
                d.setdefault("span_id", format(ctx.span_id, "016x"))
        return True
