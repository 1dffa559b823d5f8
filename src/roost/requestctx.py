"""The request a task is working for: its id, system and actor, carried in a `ContextVar`.

The HTTP API sets it as a request arrives (the id from `X-Request-Id`, else a new one). asyncio
copies the context into every task the request starts (shielded turns, `?async=true` calls), so
the log filter stamps each line written on the request's behalf, and the forwarder passes the id
on to the owning node, whose HTTP API adopts it. Reading it is one `ContextVar.get`; in-process
invocations never set it. (A `ContextVar` is per-task state, not a process-global registry.)
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar
from typing import NamedTuple

HEADER = "X-Request-Id"
_VALID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class RequestInfo(NamedTuple):
    """Made once per HTTP request: a tuple, the cheapest immutable record to build."""

    id: str
    system: str | None = None
    actor: str | None = None


current: ContextVar[RequestInfo | None] = ContextVar("roost_request", default=None)


def request_id() -> str | None:
    """The id of the request this task works for, if any."""
    info = current.get()
    return None if info is None else info.id


def new_id() -> str:
    """16 hex digits. Not a secret, only unique enough to follow one call through the logs, so it
    comes from the fast non-cryptographic generator (no syscall on every request)."""
    return f"{random.getrandbits(64):016x}"


def accept_id(raw: str | None) -> str:
    """The caller's id when it is a sane token (it goes into logs and headers), else a new one."""
    if raw is not None and _VALID.fullmatch(raw):
        return raw
    return new_id()
