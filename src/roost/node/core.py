"""`Core`: statestore + runtime + router + the runtime's driver, shared by `Node` (a server) and
`ActorSystem` (a system inside the caller's process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from roost.errors import ActorNotFound, BadRequest, StoreUnavailable, SystemNotFound
from roost.metrics import Metrics
from roost.placement.router import Forwarder, Router
from roost.runtime.driver import drive
from roost.runtime.host import Runtime
from roost.runtime.types import SystemTypes
from roost.sdk.actor import valid_name
from roost.sdk.context import ActorId
from roost.statestore.base import ActorKey, StateStore
from roost.statestore.crypto import generate_key

log = logging.getLogger("roost.node")


class Core:
    """Everything that runs actors, minus the network. Built from explicit parts."""

    def __init__(
        self,
        *,
        node_id: str,
        systems: Mapping[str, SystemTypes],
        store: StateStore,
        metrics: Metrics,
        lease_s: float = 10.0,
        request_timeout: float = 30.0,
        forwarder: Forwarder | None = None,
    ) -> None:
        self.node_id = node_id
        self.systems = dict(systems)
        self.store = store
        self.metrics = metrics
        self.runtime = Runtime(
            node_id=node_id, store=store, systems=systems, metrics=metrics, lease_s=lease_s
        )
        self.router = Router(
            node_id, self.runtime, forwarder=forwarder, request_timeout=request_timeout
        )
        self.runtime.invoker = self.router
        self._driver: asyncio.Task[None] | None = None
        metrics.gauge(
            "roost_active_activations",
            lambda: [(k, float(v)) for k, v in self.runtime.counts_by_type().items()],
        )
        metrics.gauge(
            "roost_mailbox_depth",
            lambda: [(k, float(v)) for k, v in self.runtime.mailbox_depths().items()],
        )

    async def start(self, *, store_wait: float = 30.0) -> None:
        """Open the statestore (waiting up to `store_wait` s for it), migrate, start the driver."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + store_wait
        delay = 0.2
        while True:
            try:
                await self.store.migrate()
                break
            except StoreUnavailable as exc:
                if loop.time() + delay > deadline:
                    raise
                log.warning("statestore not reachable yet (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._driver = loop.create_task(drive(self.runtime), name="roost-runtime-driver")

    async def stop(self) -> int:
        """Flush every activation (state written, leases released), stop the driver, close the
        store. Returns the number of activations flushed."""
        flushed = 0
        try:
            flushed = await self.runtime.flush_all()
        finally:
            if self._driver is not None:
                self._driver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._driver
            await self.store.close()
        return flushed

    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        timeout: float | None = None,
        hops: int = 0,
        shielded: bool = False,
    ) -> Any:
        return await self.router.invoke(
            actor,
            action,
            payload,
            system=system,
            parent=parent,
            metadata=metadata,
            caller=caller,
            timeout=timeout,
            hops=hops,
            shielded=shielded,
        )

    def set_system(self, types: SystemTypes) -> None:
        """Install or replace one system's actor types while running (actor hosts registering);
        live activations keep the type they started with."""
        self.systems[types.name] = types
        self.runtime.systems[types.name] = types

    async def spawn(self, system: str, actor: str, parent: str) -> None:
        """Register `actor` as an unnamed instance of template `parent` (any node may do this)."""
        types = self.systems.get(system)
        if types is None:
            raise SystemNotFound(f"system {system!r} is not hosted here")
        if not valid_name(actor):
            raise BadRequest(f"actor name {actor!r} is not valid")
        if parent not in types.templates:
            raise ActorNotFound(f"system {system!r} has no unnamed actor template {parent!r}")
        if actor in types.named:
            raise BadRequest(f"{actor!r} is a named actor type; it cannot be spawned")
        await self.store.register(ActorKey(system, actor), parent)


def load_or_create_key(path: Path) -> str:
    """A statestore key kept in a file (mode 0600), generated on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key
