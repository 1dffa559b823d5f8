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

from roost.errors import (
    ActionNotFound,
    ActorNotFound,
    BadRequest,
    ConfigError,
    StoreUnavailable,
    SystemNotFound,
)
from roost.metrics import MeteredStore, Metrics
from roost.node.policies import SPAWN_ACTION, PolicySet
from roost.placement.router import Forwarder, Router
from roost.runtime.driver import drive
from roost.runtime.host import Runtime
from roost.runtime.reserved import Pins, PrefixScan, Scheduler
from roost.runtime.types import SystemTypes
from roost.runtime.warmup import Warmup
from roost.sdk.actor import valid_name
from roost.sdk.context import ActorId
from roost.sdk.workflow import Effect
from roost.statestore.base import ActorKey, ScannedRow, StateStore
from roost.statestore.crypto import generate_key, parse_key
from roost.statestore.encrypted import EncryptedStore
from roost.statestore.routed import RoutedStore
from roost.tracing import OFF, Tracing

log = logging.getLogger("roost.node")

MAX_DELAY_MS = 366 * 24 * 3600 * 1000  # a year: anything longer is more likely a unit mistake


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
        policies: PolicySet | None = None,
        tracing: Tracing = OFF,
    ) -> None:
        self.node_id = node_id
        self.policies = policies  # ACLs; None: every call is allowed
        self.systems = dict(systems)
        self.store: StateStore = tracing.store(MeteredStore(store, metrics))  # spans when on
        self.metrics = metrics
        self.runtime = Runtime(
            node_id=node_id, store=self.store, systems=systems, metrics=metrics, lease_s=lease_s
        )
        self.router = Router(
            node_id, self.runtime, forwarder=forwarder, request_timeout=request_timeout
        )
        # calls between actors come through `invoke` (checked by the policies, if any) and
        # `schedule` (`ctx.invoke(..., delay_ms=...)`)
        self.runtime.invoker = self
        if policies is not None:  # broadcasts reach subscribers without passing `invoke`
            self.runtime.authorize = self.authorize
        scan = (
            store.scan_prefix
            if isinstance(store, EncryptedStore | RoutedStore)
            else _plain_scan(self.store)
        )
        self.scan_prefix: PrefixScan = scan  # for other bookkeeping rows (actor hosts)
        self.scheduler = Scheduler(
            node_id=node_id, store=self.store, scan=scan, invoker=self.router,
            owns=self.router.owns,
        )  # fmt: skip
        self.pins = Pins(
            node_id=node_id, store=self.store, scan=scan, invoker=self.router,
            owns=self.router.owns, active=self.runtime.active,
        )  # fmt: skip
        self.runtime.on_activate = self.pins.note
        self.warmup = Warmup(  # named actors start on their owner without waiting for a call
            systems=self.runtime.systems, owns=self.router.owns, active=self.runtime.active,
            activate=self.runtime.activate,
        )  # fmt: skip
        self.runtime.delayed_effects = self._delayed_effect
        self.runtime.route = self._deliver
        self._driver: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        tracing.instrument(self)  # spans on routing, turns, workflows, schedules (when on)
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

    def start_loops(self) -> None:
        """Scheduled invocations, timer pins, warm-up: started once this node may own actors."""
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self.scheduler.run(), name="roost-scheduler"),
            loop.create_task(self.pins.run(), name="roost-timer-pins"),
            loop.create_task(self.warmup.run(), name="roost-warmup"),
        ]

    def stop_loops(self) -> None:
        for task in self._loops:
            task.cancel()

    async def stop(self) -> int:
        """Flush every activation (state written, leases released), stop the driver, close the
        store. Returns the number of activations flushed."""
        flushed = 0
        for task in self._loops:
            task.cancel()
        try:
            flushed = await self.runtime.flush_all()
        finally:
            await self.runtime.stop_background()
            tasks = [*self._loops, *([self._driver] if self._driver is not None else [])]
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.store.close()
        return flushed

    async def schedule(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        delay_ms: int | None = None,
        at_ms: int | None = None,
    ) -> str:
        """Persist an invocation to run after `delay_ms`, or at unix time `at_ms` (ms); it fires
        on the actor's owner even if this node is gone by then. Returns its id."""
        self.authorize(system, actor, action, caller)  # checked now: it fires without a check
        if (delay_ms is None) == (at_ms is None):
            raise BadRequest("give exactly one of delay_ms and scheduled_to")
        if delay_ms is not None and not 0 <= delay_ms <= MAX_DELAY_MS:
            raise BadRequest(f"delay_ms must be between 0 and {MAX_DELAY_MS}")
        if system not in self.systems:
            raise SystemNotFound(f"system {system!r} is not hosted here")
        t = self.runtime.resolve_static(system, actor, parent)
        if t is not None and not t.has_action(action):
            raise ActionNotFound(f"actor type {t.name!r} has no action {action!r}")
        # the scheduler's wall clock, so that a test's virtual clock (roost.testing) governs both
        now_ms = int(self.scheduler.wall() * 1000)
        due = at_ms if at_ms is not None else now_ms + (delay_ms or 0)
        return await self.scheduler.schedule(
            system=system, actor=actor, action=action, payload=payload, parent=parent,
            metadata=metadata, caller=caller, due_ms=due,
        )  # fmt: skip

    async def _delayed_effect(
        self, e: Effect, system: str, metadata: Mapping[str, str] | None, caller: ActorId
    ) -> None:
        await self.schedule(
            e.actor, e.action, e.payload, system=e.system or system, parent=e.parent,
            metadata=metadata, caller=caller, delay_ms=e.delay_ms,
        )  # fmt: skip

    async def _deliver(
        self,
        system: str,
        actor: str,
        action: str,
        payload: Any,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        bid: str,
    ) -> Any:
        """A broadcast to a named subscriber: routed to its owner with the broadcast id."""
        return await self.invoke(
            actor, action, payload, system=system, metadata=metadata, caller=caller, dedupe=bid
        )

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
        dedupe: str | None = None,
    ) -> Any:
        self.authorize(system, actor, action, caller)
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
            dedupe=dedupe,
        )

    def authorize(
        self, system: str, actor: str, action: str, caller: ActorId | None = None
    ) -> None:
        """Raise `Forbidden` when the ACL policies refuse this call (for answers given before
        the call runs: 202s, schedules); `invoke` checks every call itself."""
        if self.policies is not None:
            self.policies.check(system, actor, action, caller)

    def set_system(self, types: SystemTypes) -> None:
        """Install or replace one system's actor types while running (actor hosts registering);
        live activations keep the type they started with."""
        before = self.systems.get(types.name)
        new = [
            t.name
            for t in types.named.values()
            if before is None or before.named.get(t.name) is not t
        ]
        self.systems[types.name] = types
        self.runtime.systems[types.name] = types
        self.warmup.registered(types.name, new)  # (re)defined types: warm them, as Spawn does

    async def spawn(self, system: str, actor: str, parent: str) -> None:
        """Register `actor` as an unnamed instance of template `parent` (any node may do this);
        the ACL policies see it as the action `spawn` of the new actor."""
        self.authorize(system, actor, SPAWN_ACTION)
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
    """A statestore key kept in a file only its owner may read (0600), generated on first use.
    It decrypts every actor's state, so a damaged file is refused with a `ConfigError`, never
    replaced (a new key would make the stored state unreadable)."""
    if not path.exists():
        try:
            return _create_key_file(path)
        except FileExistsError:
            pass  # another process created it first: use that one
        except OSError as exc:
            raise ConfigError(f"cannot create the statestore key file {path}: {exc}") from exc
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the statestore key file {path}: {exc}") from exc
    try:
        parse_key(text)
    except ConfigError as exc:
        raise ConfigError(
            f"the statestore key file {path} is damaged (it must hold base64 of 32 bytes): "
            "restore it from a backup, or delete it together with the database to start over"
        ) from exc
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("statestore key file %s is open to other users; chmod 600 it", path)
    return text.strip()


def _create_key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), stat.S_IRUSR | stat.S_IWUSR)  # exactly 0600, whatever the umask
        f.write(key + "\n")
        f.flush()
        os.fsync(f.fileno())  # the key must outlive a crash that the state it seals survives
    return key


def _plain_scan(store: StateStore) -> PrefixScan:
    """`scan_prefix` for a store without encryption (tests, embedding)."""

    async def scan(
        system: str, prefix: str, after: ActorKey | None, limit: int
    ) -> tuple[list[ScannedRow], ActorKey | None]:
        rows = await store.scan(after or ActorKey(system, prefix), limit)
        mine = [r for r in rows if r.key.system == system and r.key.actor.startswith(prefix)]
        more = len(mine) == len(rows) == limit
        return mine, (rows[-1].key if more else None)

    return scan
