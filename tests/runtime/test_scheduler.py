"""The persisted scheduler: a call refused before it ran is kept and fired again later; a call
that ran (or failed) is fired once and deleted."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from roost.errors import ActionFailed, Overloaded, RoostError, Unavailable
from roost.runtime.reserved import Scheduler
from roost.sdk.context import ActorId
from roost.statestore.crypto import Keyring, generate_key
from roost.statestore.encrypted import EncryptedStore
from roost.statestore.memory import MemoryStore


class FakeInvoker:
    """Answers each call with the next outcome in `outcomes` (an exception is raised)."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.calls = 0
        self.called = asyncio.Event()

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
    ) -> Any:
        self.calls += 1
        self.called.set()
        out = self.outcomes.pop(0)
        if isinstance(out, RoostError):
            raise out
        return out


def _scheduler(invoker: FakeInvoker) -> Scheduler:
    store = EncryptedStore(MemoryStore(), Keyring.from_text(generate_key()))
    return Scheduler(
        node_id="n1",
        store=store,
        scan=store.scan_prefix,
        invoker=invoker,
        owns=lambda system, actor: True,
        wall=lambda: 2_000_000.0,
    )


async def _fire_once(s: Scheduler, inv: FakeInvoker) -> int:
    inv.called.clear()
    started = await s.poll()
    if started:
        await inv.called.wait()
        while s._tasks:  # the bookkeeping after the call (delete or release) is still running
            await asyncio.sleep(0)
    return started


async def test_refused_calls_are_retried_until_they_run() -> None:
    inv = FakeInvoker([Overloaded("mailbox full"), Unavailable("draining"), {"total": 1}])
    s = _scheduler(inv)
    await s.schedule(system="sys", actor="a", action="add", payload={"value": 1}, due_ms=0)
    assert await _fire_once(s, inv) == 1  # 429: not run, kept
    assert await _fire_once(s, inv) == 1  # 503: not run, kept
    assert await _fire_once(s, inv) == 1  # ran
    assert await _fire_once(s, inv) == 0  # deleted: never again
    assert inv.calls == 3
    assert s.fired == 1


async def test_a_call_that_ran_and_failed_is_not_retried() -> None:
    inv = FakeInvoker([ActionFailed("boom")])
    s = _scheduler(inv)
    await s.schedule(system="sys", actor="a", action="add", due_ms=0)
    assert await _fire_once(s, inv) == 1
    assert await _fire_once(s, inv) == 0
    assert inv.calls == 1
