"""`ActorSystem`: a system running inside the caller's process (Spawn's "development mode").

async with roost.ActorSystem("spawn-system", actors=[Incrementor],
                             statestore="sqlite:///roost.db") as system:
    await system.invoke("incrementor", action="add", payload={"value": 1})
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from roost.errors import ConfigError
from roost.metrics import Metrics
from roost.node import local
from roost.node.core import Core, load_or_create_key
from roost.node.loader import build_systems, build_types
from roost.sdk.context import ActorId
from roost.statestore.base import StateStore
from roost.statestore.crypto import Keyring, generate_key
from roost.statestore.encrypted import EncryptedStore
from roost.statestore.memory import MemoryStore
from roost.statestore.sqlite import sqlite_path
from roost.statestore.url import open_backend
from roost.tracing import OFF, Tracing

if TYPE_CHECKING:
    from roost.sdk.refs import Target

log = logging.getLogger("roost")
A = TypeVar("A")


class ActorSystem:
    """One system, its actor classes, and a statestore, running in this event loop.

    `statestore` is a URL (``sqlite:///roost.db``, ``postgresql://...``), an adapter object, or
    None for memory only. The key comes from `key`, else ROOST_STATESTORE_KEY; for SQLite with
    neither, a key is generated once and kept beside the database file (``<db>.key``, 0600).
    `tracing` (e.g. ``roost.tracing.from_config(node_id)``) traces its calls; off by default.
    """

    def __init__(
        self,
        name: str,
        *,
        actors: Sequence[type],
        statestore: str | StateStore | None = None,
        key: str | None = None,
        old_keys: Sequence[str] = (),
        node_id: str = "local",
        lease_s: float = 10.0,
        request_timeout: float = 30.0,
        tracing: Tracing | None = None,
    ) -> None:
        self.name = name
        types = build_types(actors)
        systems = build_systems([name], types)
        keyring = Keyring.from_text(_resolve_key(statestore, key), old_keys)
        if statestore is None:
            backend: StateStore = MemoryStore()
        elif isinstance(statestore, str):
            backend = open_backend(statestore)
        else:
            backend = statestore
        self.metrics = Metrics(node_id, process=False)
        self.core = Core(
            node_id=node_id,
            systems=systems,
            store=EncryptedStore(backend, keyring),
            metrics=self.metrics,
            lease_s=lease_s,
            request_timeout=request_timeout,
            tracing=tracing or OFF,
        )

    @property
    def default_system(self) -> str:
        return self.name

    async def __aenter__(self) -> ActorSystem:
        await self.core.start()
        self.core.start_loops()
        for name in self.core.systems:  # `roost.invoke(system=...)` reaches each one it hosts
            local.register(name, self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for name in self.core.systems:
            local.unregister(name, self)
        await self.core.stop()

    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str | None = None,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        delay_ms: int | None = None,
        scheduled_to: int | None = None,
    ) -> Any:
        """Invoke `action` on `actor` and return its reply. With `delay_ms` (or `scheduled_to`,
        unix ms) the call is persisted and fires once, later, on the actor's owner; this returns
        the schedule's id at once."""
        if delay_ms is not None or scheduled_to is not None:
            return await self.schedule(
                actor, action, payload, system=system, parent=parent, metadata=metadata,
                caller=caller, delay_ms=delay_ms, scheduled_to=scheduled_to,
            )  # fmt: skip
        return await self.core.invoke(
            actor,
            action,
            payload,
            system=system or self.name,
            parent=parent,
            metadata=metadata,
            caller=caller,
        )

    async def schedule(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str | None = None,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        delay_ms: int | None = None,
        scheduled_to: int | None = None,
    ) -> str:
        """Persist an invocation to run after `delay_ms` or at `scheduled_to` (unix ms); it
        fires once, on the actor's owner. Returns its id."""
        return await self.core.schedule(
            actor, action, payload, system=system or self.name, parent=parent,
            metadata=metadata, caller=caller, delay_ms=delay_ms, at_ms=scheduled_to,
        )  # fmt: skip

    async def spawn(self, actor: str, *, parent: str) -> None:
        """Create an unnamed instance `actor` of template `parent`."""
        await self.core.spawn(self.name, actor, parent)

    async def state(self, actor: str, *, parent: str | None = None) -> Any:
        return await self.invoke(actor, "get_state", parent=parent)

    def ref(self, actor: type[A], name: str | None = None, *, system: str | None = None) -> A:
        """A typed reference: ``await system.ref(Counter, "c-1").add(AddRequest(value=1))``
        returns the action's declared reply type, and type checkers check the call: action name,
        payload and reply types. It is a `roost.Ref`, typed as the actor class (as `Ref[A]`, whose
        only attributes are actions, with the roost.mypy plugin). An unnamed instance's template
        comes from the class."""
        from roost.sdk.refs import make_ref, target_of

        return make_ref(actor, target_of(actor, name, system), SystemBackend(self))


class SystemBackend:
    """References' calls into an in-process system."""

    __slots__ = ("system",)

    def __init__(self, system: ActorSystem) -> None:
        self.system = system

    async def call(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None
    ) -> Any:
        return await self.system.invoke(
            to.actor, action, payload, system=to.system, parent=to.parent, metadata=metadata
        )

    async def schedule(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None,
        delay_ms: int | None, at_ms: int | None,
    ) -> str:  # fmt: skip
        return await self.system.schedule(
            to.actor, action, payload, system=to.system, parent=to.parent, metadata=metadata,
            delay_ms=delay_ms, scheduled_to=at_ms,
        )  # fmt: skip

    async def send(
        self, to: Target, action: str, payload: Any, metadata: Mapping[str, str] | None
    ) -> None:
        core, system = self.system.core, to.system or self.system.name
        core.authorize(system, to.actor, action)  # refused now, like HTTP's 202 never hides a 403
        core.runtime.spawn(
            core.invoke(to.actor, action, payload, system=system, parent=to.parent,
                        metadata=metadata),
            f"send {system}/{to.actor}.{action}",
        )  # fmt: skip


def _resolve_key(statestore: str | StateStore | None, key: str | None) -> str:
    if key:
        return key
    env = os.environ.get("ROOST_STATESTORE_KEY")
    if env:
        return env
    if (
        statestore is None
        or isinstance(statestore, MemoryStore)
        or (isinstance(statestore, str) and statestore.split(":", 1)[0].lower() == "memory")
    ):
        return generate_key()  # nothing outlives the process: an ephemeral key is enough
    if isinstance(statestore, str) and statestore.startswith("sqlite:"):
        path = sqlite_path(statestore)
        if path == ":memory:":
            return generate_key()
        key_path = Path(path + ".key")
        if not key_path.exists():
            log.warning("no ROOST_STATESTORE_KEY: generating one in %s (keep it safe)", key_path)
        return load_or_create_key(key_path)
    raise ConfigError(
        "ROOST_STATESTORE_KEY is not set; make one with `roost keygen` and pass it as key=..."
    )
