"""`roost.invoke` / `roost.ref`: call an actor in this process's system, else over HTTP."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

from roost.node import local
from roost.node.client import Client
from roost.sdk.refs import Target, make_ref, target_of

A = TypeVar("A")

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
    async_: bool = False,
) -> Any:
    """Invoke `action` on `actor`. Goes to the system running in this process if there is one
    (and no `url` is given), otherwise over HTTP to `url` or ROOST_URL (default
    http://127.0.0.1:8800; a comma list names several nodes: the first that accepts the
    connection takes the call and forwards it to the owner; for many calls keep a `Client`,
    which learns the ring and calls owners directly). With `delay_ms` (or `scheduled_to`, unix
    ms) the call is persisted and fires once, later, on the actor's owner; this returns the
    schedule's id at once. With `async_` the call is accepted and runs in the background (None
    comes back)."""
    scheduled = delay_ms is not None or scheduled_to is not None
    if url is None:
        running = local.find(system)
        if running is not None and async_ and not scheduled:
            core, name = running.core, system or running.default_system
            core.authorize(name, actor, action)
            core.runtime.spawn(
                core.invoke(actor, action, payload, system=name, parent=parent,
                            metadata=metadata),
                f"async {name}/{actor}.{action}",
            )  # fmt: skip
            return None
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
            async_=async_,
        )


def ref(
    actor: type[A], name: str | None = None, *, system: str | None = None, url: str | None = None
) -> A:
    """A typed reference that calls like `invoke`: to the system running in this process if
    there is one (and no `url`), else over HTTP to `url` or ROOST_URL. ``await
    roost.ref(Counter, "c-1").add(AddRequest(value=1))`` returns the declared reply type. Typed
    as the actor class; as `Ref[A]` with the roost.mypy plugin (see `ActorSystem.ref`)."""
    return make_ref(actor, target_of(actor, name, system), ApiBackend(url))


class ApiBackend:
    """References' calls through `invoke` (in-process when a system runs here, else HTTP)."""

    __slots__ = ("url",)

    def __init__(self, url: str | None) -> None:
        self.url = url

    async def call(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None
    ) -> Any:
        return await invoke(
            to.actor, action=action, payload=payload, system=to.system, parent=to.parent,
            metadata=metadata, url=self.url,
        )  # fmt: skip

    async def schedule(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None,
        delay_ms: int | None, at_ms: int | None,
    ) -> str:  # fmt: skip
        sid: str = await invoke(
            to.actor, action=action, payload=payload, system=to.system, parent=to.parent,
            metadata=metadata, url=self.url, delay_ms=delay_ms, scheduled_to=at_ms,
        )  # fmt: skip
        return sid

    async def send(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None
    ) -> None:
        await invoke(
            to.actor, action=action, payload=payload, system=to.system, parent=to.parent,
            metadata=metadata, url=self.url, async_=True,
        )  # fmt: skip
