"""`flush_all` (the drain's handoff) leaves nothing behind: an activation already loading when
the drain began finishes loading, serves the call that started it, and is handed off too; once
the drain began no new activation starts (issue 23). In-memory store, fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from examples.counters import Counter
from roost.errors import Unavailable
from roost.runtime import Runtime, SystemTypes
from roost.sdk.actor import ActorType
from roost.statestore import ActorKey, EncryptedStore, Keyring, MemoryStore
from tests.conftest import FakeClock

SYS = "spawn-system"


class GatedStore(MemoryStore):
    """A store whose `acquire` waits for `gate` once `entered` is set: an activation under way."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def acquire(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        await self.gate.wait()
        return await super().acquire(*args, **kwargs)


def make(clock: FakeClock) -> tuple[Runtime, GatedStore]:
    raw = GatedStore(clock)
    rt = Runtime(
        node_id="n1",
        store=EncryptedStore(raw, Keyring(b"k" * 32)),
        systems={SYS: SystemTypes.build(SYS, [ActorType.from_class(Counter)])},
        clock=clock,
    )
    return rt, raw


async def test_flush_all_hands_off_an_activation_that_was_loading(clock: FakeClock) -> None:
    rt, raw = make(clock)
    call = asyncio.ensure_future(rt.invoke(SYS, "c1", "add", {"value": 1}, parent="counter"))
    await raw.entered.wait()  # c1 is loading: its lease is being taken
    flush = asyncio.ensure_future(rt.flush_all("drain"))
    await asyncio.sleep(0)  # the drain has begun: no new activation from here on
    with pytest.raises(Unavailable, match="draining"):
        await rt.invoke(SYS, "c2", "add", {"value": 1}, parent="counter")
    raw.gate.set()
    assert await call == {"total": 1}  # the call that started the activation was served...
    assert await flush == 1  # ...and the activation handed off with the drain, not left behind
    assert rt.active == {}
    row = await raw.read(ActorKey(SYS, "c1"))
    assert row is not None and row.owner is None  # written and released for the next owner
    assert await raw.read(ActorKey(SYS, "c2")) is None
