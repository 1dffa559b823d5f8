"""`roost.invoke` / `roost.spawn`: call an actor in this process's system, else over HTTP."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from roost.node import local
from roost.node.client import Client

DEFAULT_URL = "http://127.0.0.1:8800"


async def invoke(
    actor: str,
    *,
    action: str,
    payload: Any = None,
    system: str | None = None,
    parent: str | None = None,
    metadata: Mapping[str, str] | None = None,
    url: str | None = None,
    delay_ms: int | None = None,
    scheduled_to: int | None = None,
) -> Any:
    """Invoke `action` on `actor`. Goes to the system running in this process if there is one
    (and no `url` is given), otherwise over HTTP to `url` or ROOST_URL (default
    http://127.0.0.1:8800; a comma list names several nodes: the first that accepts the
    connection takes the call and forwards it to the owner; for many calls keep a `Client`,
    which learns the ring and calls owners directly). With `delay_ms` (or `scheduled_to`, unix
    ms) the call is persisted and fires once, later, on the actor's owner; this returns the
    schedule's id at once."""
    scheduled = delay_ms is not None or scheduled_to is not None
    if url is None:
        running = local.find(system)
        if running is not None and scheduled:
            return await running.core.schedule(
                actor, action, payload, system=system or running.default_system, parent=parent,
                metadata=metadata, delay_ms=delay_ms, at_ms=scheduled_to,
            )  # fmt: skip
        if running is not None:
            return await running.invoke(
                actor, action, payload, system=system or running.default_system,
                parent=parent, metadata=metadata,
            )  # fmt: skip
    async with Client(url or os.environ.get("ROOST_URL", DEFAULT_URL)) as client:
        return await client.invoke(
            actor,
            action,
            payload,
            system=system or "spawn-system",
            parent=parent,
            metadata=metadata,
            delay_ms=delay_ms,
            scheduled_to=scheduled_to,
        )
