"""The one asyncio loop that drives a `Runtime`'s clocks: snapshots, idle deactivation, leases."""

from __future__ import annotations

import asyncio
import logging

from roost.errors import RoostError
from roost.runtime.host import Runtime

log = logging.getLogger("roost.runtime")

MAX_TICK = 1.0  # never sleep longer: a new dirty actor is seen within a second
MIN_TICK = 0.01


async def drive(runtime: Runtime) -> None:
    """Run until cancelled. Store outages are logged and retried next tick (state stays put)."""
    renew_every = runtime.lease_s / 3.0
    next_renew = runtime.clock() + renew_every
    while True:
        now = runtime.clock()
        runtime.fire_timers(now)
        try:
            await runtime.snapshot_due(now)
        except RoostError as exc:
            log.warning("write-behind snapshot failed, will retry: %s", exc)
        try:
            await runtime.reap_idle(now)
        except RoostError as exc:
            log.warning("idle deactivation failed, will retry: %s", exc)
        if now >= next_renew:
            next_renew = now + renew_every
            try:
                lost = await runtime.renew_leases()
                if lost:
                    log.warning("%d leases were lost; those activations were dropped", lost)
            except RoostError as exc:
                log.warning("lease renewal failed, will retry: %s", exc)
                next_renew = now + min(1.0, renew_every)
        deadline = runtime.next_deadline()
        wake = min(next_renew, deadline if deadline is not None else next_renew)
        await asyncio.sleep(min(MAX_TICK, max(MIN_TICK, wake - runtime.clock())))
