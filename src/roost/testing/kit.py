"""`TestSystem`: an in-process system for unit tests, on the memory store, with a virtual clock.

Nothing runs by itself: no driver loop, no scheduler loop. `advance(ms=...)` moves the clock and
does, in order and at each moment it falls due, what those loops would have done meanwhile: fire
timers, write snapshots, deactivate idle actors, renew leases and run scheduled calls; then it
waits for every effect, broadcast and tick it started. A test never sleeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

from roost.errors import RoostError, StoreUnavailable
from roost.node import local
from roost.node.system import ActorSystem
from roost.runtime.reserved import PAGE, RESERVED_SYSTEM, SCHED
from roost.sdk.context import ActorId
from roost.sdk.value import Value
from roost.statestore.base import ActorKey, WriteItem
from roost.statestore.crypto import generate_key
from roost.statestore.memory import MemoryStore
from roost.testing.recorder import Calls, RecordingInvoker, record_workflow

log = logging.getLogger("roost.testing")

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: where virtual wall time starts
EPSILON = 1e-6  # seconds: deadlines closer than this to the target count as reached
MAX_STEPS = 100_000  # moments one `advance` may visit; more means something re-arms at once


class VirtualClock:
    """Seconds that move only when told. `now` is the monotonic reading, `wall` unix seconds."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self._start = start

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + (self.now - self._start)

    def set(self, now: float) -> None:
        if now < self.now:
            raise ValueError("the virtual clock does not go backwards")
        self.now = now


class FaultyStore(MemoryStore):
    """The memory store, with a fault hook: `fail_writes(n)` makes the next `n` writes fail as
    an unreachable database would (StoreUnavailable), before anything is written."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock=clock.wall)
        self._fail = 0
        self.failed_writes = 0

    def fail_writes(self, n: int = 1) -> None:
        self._fail = n

    async def write(
        self, node_id: str, items: Sequence[WriteItem], lease_s: float
    ) -> list[int | None]:
        if self._fail > 0 and items:
            self._fail -= 1
            self.failed_writes += 1
            raise StoreUnavailable("write refused by the test's fault hook")
        return await super().write(node_id, items, lease_s)


class TestSystem(ActorSystem):
    """`ActorSystem` for tests: ``async with TestSystem(Counter) as system:``. Everything an
    `ActorSystem` has (`invoke`, `ref`, `spawn`, `state`...), plus `advance`, `stored_state`,
    `calls`, `is_active` and `store.fail_writes`."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self, *actors: type, name: str = "test", lease_s: float = 10.0, start: float = 1_000.0
    ) -> None:
        self.clock = VirtualClock(start)
        self.store = FaultyStore(self.clock)
        super().__init__(name, actors=actors, statestore=self.store, key=generate_key(),
                         lease_s=lease_s)  # fmt: skip
        core = self.core
        core.runtime.clock = self.clock
        core.scheduler.wall = self.clock.wall
        self.calls = Calls()
        self.errors: list[RoostError] = []  # what the background work hit (e.g. a failed write)
        core.runtime.invoker = RecordingInvoker(core, self.calls)
        run_workflow = core.runtime.run_workflow

        async def recorded(
            me: ActorId, value: Value[Any], reply: Any, payload: Any, metadata: Any
        ) -> Any:
            record_workflow(self.calls, me, value, reply, payload, metadata)
            return await run_workflow(me, value, reply, payload, metadata)

        core.runtime.run_workflow = recorded  # type: ignore[method-assign]

    async def __aenter__(self) -> TestSystem:
        await self.core.store.migrate()  # no driver, no scheduler loop: `advance` does their work
        for name in self.core.systems:
            local.register(name, self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.store.fail_writes(0)  # a fault left armed must not fail the final flush
        await self.settle()
        await super().__aexit__(*exc)

    async def advance(self, ms: float = 0) -> None:
        """Move the clock `ms` milliseconds on, doing at each moment what falls due then (timers,
        snapshots, idle deactivation, lease renewal, scheduled calls), and let it all finish."""
        rt = self.core.runtime
        target = self.clock.now + ms / 1000.0
        now = self.clock.now
        for _ in range(MAX_STEPS):
            await self._due(now)
            if now >= target:
                return
            ahead = [d for d in (rt.next_deadline(), await self._next_scheduled()) if d is not None]
            # a deadline a float's rounding past the target (0.1 s added ten times) is still due
            now = min([d for d in ahead if now < d <= target + EPSILON], default=target)
            self.clock.set(now)
        raise RuntimeError(f"advance({ms}) visited {MAX_STEPS} moments; is a timer re-arming?")

    async def _due(self, now: float) -> None:
        rt = self.core.runtime
        rt.fire_timers(now)
        await self.settle()
        for work in (rt.snapshot_due(now), rt.reap_idle(now), rt.renew_leases(),
                     self.core.scheduler.poll()):  # fmt: skip
            await self._quietly(work)
        await self.settle()

    async def _quietly(self, work: Awaitable[Any]) -> None:
        """As the node's loops do: a store error is noted and the work is retried next time."""
        try:
            await work
        except RoostError as exc:
            log.warning("background work failed, will retry: %s", exc)
            self.errors.append(exc)

    async def _next_scheduled(self) -> float | None:
        """The monotonic moment the earliest scheduled call falls due, if any."""
        rows, _ = await self.core.scan_prefix(RESERVED_SYSTEM, SCHED, None, PAGE)
        if not rows:
            return None
        due_ms = int(rows[0].key.actor[len(SCHED) :].split("/", 1)[0])
        return self.clock.now + max(0.0, due_ms / 1000.0 - self.clock.wall())

    async def settle(self) -> None:
        """Wait until no effect, broadcast, tick, background call or scheduled call runs."""
        core = self.core
        for _ in range(MAX_STEPS):
            tasks = [*core.runtime.tasks, *core.scheduler._tasks, *core.pins._tasks]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
                continue
            await asyncio.sleep(0)  # a callback may be about to start one more
            if not (core.runtime.tasks or core.scheduler._tasks or core.pins._tasks):
                return

    async def stored_state(self, actor: type | str, name: str | None = None) -> Any:
        """The state as last written to the store (not the live one), decoded with the actor's
        state type; None if nothing is stored."""
        type_name = actor if isinstance(actor, str) else str(getattr(actor, "name", ""))
        types = self.core.systems[self.name]
        atype = types.named.get(type_name) or types.templates.get(type_name)
        if atype is None:
            raise KeyError(f"no actor type {type_name!r} in system {self.name!r}")
        row = await self.core.store.read(ActorKey(self.name, name or type_name))
        return None if row is None or row.data is None else atype.codec.decode(row.data)

    def is_active(self, actor: str) -> bool:
        """Whether `actor` (an instance name) is activated right now."""
        return ActorKey(self.name, actor) in self.core.runtime.active
