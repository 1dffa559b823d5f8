"""Warm-up: the owner of a named actor activates it without waiting for a call.

Spawn activates, when a registration is accepted, every actor of it that is named and stateful,
or that subscribes to a channel (never unnamed or pooled ones): `warmup_actors` and
`is_selectable?` in eigr/spawn `lib/actors/actor/caller_consumer.ex`. That is what starts a
named actor's timers. Roost does the same for host actors and Python actors, on the node that
owns each one, and keeps the promise when ownership moves: an actor is warmed whenever this node
gains it (start, types registered, a ring change after a handoff or a crash), once. After that
the actor lives like any other: idle deactivation still applies (an actor with timers is never
idle), and it is warmed again only when it comes back to this node or its types are registered
again. A warm-up that finds the actor still held elsewhere (a handoff not finished, a crashed
node's lease not expired) is retried at the next sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from roost.errors import RoostError
from roost.runtime.types import SystemTypes
from roost.sdk.actor import ActorType
from roost.statestore.base import ActorKey

log = logging.getLogger("roost.runtime")

SWEEP_EVERY = 2.0  # s between sweeps when nothing pokes (a failed warm-up retries at the next)


def warmable(t: ActorType) -> bool:
    """Spawn's choice: a named actor that keeps state or subscribes to a channel."""
    return t.kind == "named" and (bool(t.extra.get("stateful", True)) or bool(t.channels))


class Warmup:
    """Activates the warmable actors this node owns. `poke` asks for a sweep now (a ring
    change, types registered); `sweep` does one and returns how many it activated."""

    def __init__(
        self,
        *,
        systems: Mapping[str, SystemTypes],
        owns: Callable[[str, str], bool],
        active: Mapping[ActorKey, object],
        activate: Callable[[str, str], Awaitable[object]],
    ) -> None:
        self.systems = systems  # the runtime's live mapping: registrations replace entries
        self.owns = owns
        self.active = active
        self.activate = activate
        self.warmed: set[ActorKey] = set()  # warmed since this node last gained them
        self._wake: asyncio.Event | None = None

    def due(self) -> list[ActorKey]:
        """Warmable actors this node owns and has not warmed since it gained them. Forgets the
        ones it no longer owns, so that gaining them again warms them again."""
        out = []
        keep: set[ActorKey] = set()
        for system, types in list(self.systems.items()):
            for t in types.named.values():
                if not warmable(t) or not self.owns(system, t.name):
                    continue
                key = ActorKey(system, t.name)
                if key in self.warmed:
                    keep.add(key)
                elif key in self.active:
                    keep.add(key)  # active already (called before the sweep came)
                else:
                    out.append(key)
        self.warmed = keep
        return out

    def registered(self, system: str, names: Iterable[str]) -> None:
        """These types of `system` were (re)registered: warm them again, as Spawn does at each
        registration (types that did not change keep their state of warm-up)."""
        again = {ActorKey(system, n) for n in names}
        self.warmed -= again
        self.poke()

    def poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def sweep(self) -> int:
        woken = 0
        for key in self.due():
            try:
                await self.activate(key.system, key.actor)
            except RoostError as exc:  # held elsewhere still, store down, draining: next sweep
                log.debug("warm-up of %s deferred: %s", key, exc)
                continue
            self.warmed.add(key)
            woken += 1
        if woken:
            log.info("warmed up %d actors", woken)
        return woken

    async def run(self, interval: float = SWEEP_EVERY) -> None:
        self._wake = wake = asyncio.Event()
        while True:
            wake.clear()
            try:
                await self.sweep()
            except RoostError as exc:
                log.warning("warm-up sweep failed, will retry: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await wake.wait()
