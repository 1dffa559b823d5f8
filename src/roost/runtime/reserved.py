"""Roost's own rows in the statestore (system `__roost__`): scheduled invocations and timer pins.

Both live in the ordinary actor table, so every adapter, the encryption and the fencing apply to
them unchanged, and every node of the cluster sees them.

- **Scheduled invocations** (`sched/<due ms>/<id>`): written by any node, fired by the node that
  owns the target actor once it is due. Firing takes the row's lease (so one node fires it), runs
  the call, then deletes the row. A node that dies after the call ran but before the delete
  leaves the row to be fired again once its lease lapses: delivery is once in every run without
  such a crash, at least once with it.
- **Timer pins** (`timers/<system>/<actor>`): written when an actor with timers first activates.
  Every node periodically activates the pinned actors it owns, so a timer keeps ticking after a
  handoff or a crash without waiting for a call to wake its actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from roost.errors import LeaseHeld, NotFound, Overloaded, RoostError, Unavailable
from roost.runtime.activation import Activation
from roost.sdk.context import ActorId, Invoker
from roost.sdk.state import encode_json
from roost.statestore.base import ActorKey, ScannedRow, StateStore, WriteItem

log = logging.getLogger("roost.runtime")

RESERVED_SYSTEM = "__roost__"
SCHED = "sched/"
PINS = "timers/"
PAGE = 200

# (system, actor prefix, after, limit) -> (decrypted rows, key to continue from or None):
# `EncryptedStore.scan_prefix`, which never decrypts (or trips over) rows outside the prefix
PrefixScan = Callable[
    [str, str, ActorKey | None, int], Awaitable[tuple[list[ScannedRow], ActorKey | None]]
]


async def _put(store: StateStore, node_id: str, key: ActorKey, data: bytes) -> bool:
    """Write a bookkeeping row once; False when it exists already or another node is writing."""
    try:
        row = await store.acquire(key, node_id, 30.0)
    except LeaseHeld:
        return False
    if row.data is not None:
        await store.release(node_id, [key])
        return False
    await store.write(node_id, [WriteItem(key, data, row.revision, release=True)], 30.0)
    return True


class Scheduler:
    def __init__(
        self,
        *,
        node_id: str,
        store: StateStore,
        scan: PrefixScan,
        invoker: Invoker,
        owns: Callable[[str, str], bool],
        wall: Callable[[], float] = time.time,
        lease_s: float = 30.0,
    ) -> None:
        self.node_id = node_id
        self.store = store
        self.scan = scan
        self.invoker = invoker
        self.owns = owns
        self.wall = wall
        self.lease_s = lease_s
        self._firing: set[ActorKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.fired = 0

    async def schedule(
        self,
        *,
        system: str,
        actor: str,
        action: str,
        payload: Any = None,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        due_ms: int,
    ) -> str:
        """Persist an invocation to run at `due_ms` (unix milliseconds); returns its id."""
        sid = uuid.uuid4().hex
        spec = {
            "system": system, "actor": actor, "action": action, "payload": payload,
            "parent": parent, "metadata": dict(metadata or {}),
            "caller": None if caller is None else [caller.name, caller.system, caller.parent],
        }  # fmt: skip
        key = ActorKey(RESERVED_SYSTEM, f"{SCHED}{max(0, due_ms):015d}/{sid}")
        await _put(self.store, self.node_id, key, encode_json(spec))
        return sid

    async def poll(self) -> int:
        """Fire every due invocation whose target this node owns. Returns how many started."""
        now_ms = int(self.wall() * 1000)
        rows, _ = await self.scan(RESERVED_SYSTEM, SCHED, None, PAGE)
        started = 0
        for row in rows:
            if int(row.key.actor[len(SCHED) :].split("/", 1)[0]) > now_ms:
                break
            if row.key in self._firing:
                continue
            spec = orjson.loads(row.data)
            if not self.owns(spec["system"], spec["actor"]):
                continue
            try:
                await self.store.acquire(row.key, self.node_id, self.lease_s)
            except LeaseHeld:
                continue  # another node is firing it
            self._firing.add(row.key)
            started += 1
            task = asyncio.get_running_loop().create_task(self._fire(row.key, spec))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return started

    async def _fire(self, key: ActorKey, spec: dict[str, Any]) -> None:
        caller = ActorId(*spec["caller"]) if spec.get("caller") else None
        try:
            await self.invoker.invoke(
                spec["actor"], spec["action"], spec["payload"], system=spec["system"],
                parent=spec["parent"], metadata=spec["metadata"] or None, caller=caller,
            )  # fmt: skip
            done = True
        except (Unavailable, Overloaded, TimeoutError) as exc:  # refused before it ran: retry
            log.warning("scheduled %s.%s not run yet: %s", spec["actor"], spec["action"], exc)
            done = False
        except RoostError as exc:  # it ran and failed, or can never run: do not retry forever
            log.warning("scheduled %s.%s failed: %s", spec["actor"], spec["action"], exc)
            done = True
        try:
            if done:
                self.fired += 1
                await self.store.delete(self.node_id, [key])
            else:
                await self.store.release(self.node_id, [key])
        except RoostError as exc:
            log.warning("could not record scheduled call %s: %s", key.actor, exc)
        finally:
            self._firing.discard(key)

    async def run(self, interval: float = 0.5) -> None:
        while True:
            try:
                await self.poll()
            except RoostError as exc:
                log.warning("scheduler poll failed, will retry: %s", exc)
            await asyncio.sleep(interval)


class Pins:
    def __init__(
        self,
        *,
        node_id: str,
        store: StateStore,
        scan: PrefixScan,
        invoker: Invoker,
        owns: Callable[[str, str], bool],
        active: Mapping[ActorKey, Activation],
    ) -> None:
        self.node_id = node_id
        self.store = store
        self.scan = scan
        self.invoker = invoker
        self.owns = owns
        self.active = active
        self._pinned: set[ActorKey] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def note(self, act: Activation) -> None:
        """Activation hook: pin an actor with timers the first time this node sees it."""
        if not act.type.timers or act.key in self._pinned:
            return
        self._pinned.add(act.key)
        task = asyncio.get_running_loop().create_task(self._pin(act))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pin(self, act: Activation) -> None:
        key = ActorKey(RESERVED_SYSTEM, f"{PINS}{act.key.system}/{act.key.actor}")
        data = encode_json({"parent": act.actor_id.parent})
        try:
            await _put(self.store, self.node_id, key, data)
        except RoostError as exc:
            self._pinned.discard(act.key)  # try again at the next activation
            log.warning("could not pin timer actor %s: %s", act.key, exc)

    async def revive(self) -> int:
        """Activate the pinned actors this node owns that are not active. Returns how many."""
        after: ActorKey | None = None
        woken = 0
        while True:
            rows, after = await self.scan(RESERVED_SYSTEM, PINS, after, PAGE)
            for row in rows:
                system, actor = row.key.actor[len(PINS) :].split("/", 1)
                if (system, actor) in self.active or not self.owns(system, actor):
                    continue
                parent = orjson.loads(row.data).get("parent")
                with contextlib.suppress(NotFound):  # its type is gone from this system
                    await self.invoker.invoke(actor, "get_state", system=system, parent=parent)
                    woken += 1
            if after is None:
                return woken

    async def run(self, interval: float = 2.0) -> None:
        while True:
            try:
                await self.revive()
            except RoostError as exc:
                log.warning("timer pin sweep failed, will retry: %s", exc)
            await asyncio.sleep(interval)
