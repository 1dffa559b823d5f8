"""Unit-testing actors: an in-process system on the memory store with a virtual clock.

    async with TestSystem(Counter) as system:
        await system.ref(Counter).add(Add(value=1))
        await system.advance(ms=10_000)                  # snapshots written, no sleeping
        assert await system.stored_state(Counter) == Tally(total=1)
        system.calls.expect(caller="counter", kind="effect", action="notify")
        system.store.fail_writes(1)                      # the next write fails

With pytest, the ``roost_system`` fixture (this package's plugin, loaded automatically) gives a
`TestSystem` of the actors in ``@pytest.mark.roost_actors([...])``.
"""

from roost.testing.kit import FaultyStore, TestSystem, VirtualClock
from roost.testing.recorder import Call, Calls

__all__ = ["Call", "Calls", "FaultyStore", "TestSystem", "VirtualClock"]
