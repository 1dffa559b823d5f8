"""Logging: readable text by default, one JSON object per line with ROOST_LOG_FORMAT=json.

Every line names the node. A line written on behalf of a request (by the HTTP API, the router,
the runtime, or the actor's own code during its turn) also carries the request id, system and
actor: `RequestFilter` copies them from `roost.requestctx` into the record, so no call site has
to pass them.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

import orjson

from roost.requestctx import current
from roost.tracing import TraceFilter

# Record attributes the formatters print themselves (the rest of a record's extras go as-is).
_CONTEXT = ("request_id", "system", "actor")
_RESERVED = (
    set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
    | {"message", "asctime"}
    | set(_CONTEXT)
)


class RequestFilter(logging.Filter):
    """Stamps the current request's id, system and actor onto each record (never drops one).
    Values a call site passed with `extra=` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current.get()
        if info is not None:
            d = record.__dict__
            d.setdefault("request_id", info.id)
            if info.system is not None:
                d.setdefault("system", info.system)
            if info.actor is not None:
                d.setdefault("actor", info.actor)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "node": self.node_id,
            "msg": record.getMessage(),
        }
        d = record.__dict__
        for k in _CONTEXT:
            if k in d:
                out[k] = d[k]
        for k, v in d.items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time level [node] logger: message`, then `req=ID system/actor` on request lines."""

    def __init__(self, node_id: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-7s [{node_id}] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        d = record.__dict__
        rid = d.get("request_id")
        trace = d.get("trace_id")
        if rid is None and trace is None:
            return line
        where = "/".join(str(d[k]) for k in ("system", "actor") if d.get(k) is not None)
        tags = [f"req={rid}"] if rid is not None else []
        tags += [where] if where else []
        tags += [f"trace={trace}"] if trace is not None else []
        head, sep, tail = line.partition("\n")  # keep a traceback below the tagged line
        return f"{head} ({' '.join(tags)}){sep}{tail}"


def handler(fmt: str = "text", node_id: str = "", stream: TextIO | None = None) -> logging.Handler:
    """A stream handler with the node's formatter and the request filter."""
    h: logging.StreamHandler[TextIO] = logging.StreamHandler(stream or sys.stderr)
    h.setFormatter(JsonFormatter(node_id) if fmt == "json" else TextFormatter(node_id))
    h.addFilter(RequestFilter())
    h.addFilter(TraceFilter())  # trace_id/span_id on lines written inside a traced call
    return h


def setup(level: str = "info", fmt: str = "text", node_id: str = "") -> None:
    root = logging.getLogger()
    root.handlers[:] = [handler(fmt, node_id)]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
