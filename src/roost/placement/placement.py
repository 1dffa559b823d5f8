"""`Placement`: turns membership views into rings, and ring changes into handoffs.

On every view it rebuilds the ring over `active` members and gives it to the router. When the
ring's members change, it hands off every local activation the new ring gives to another node:
the runtime finishes the current turn, flushes the state, releases the lease and wakes queued
callers, who are routed to the new owner. A periodic sweep catches activations that slipped in
while a view was changing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from roost.errors import RoostError
from roost.membership.base import MemberView
from roost.membership.systems import SYSTEMS_TAG
from roost.metrics import Metrics
from roost.placement.ring import HASH_NAME, RING_TAG, Ring
from roost.placement.ring_legacy import LEGACY_VNODES, LegacyRing
from roost.placement.router import Router
from roost.runtime.host import Runtime

log = logging.getLogger("roost.placement")

SWEEP_EVERY = 2.0  # seconds between safety sweeps for strays


class Placement:
    """Single consumer of membership views. `on_view` never blocks: it only schedules work."""

    def __init__(
        self, node_id: str, router: Router, runtime: Runtime, metrics: Metrics, vnodes: int
    ) -> None:
        self.node_id = node_id
        self.router = router
        self.runtime = runtime
        self.metrics = metrics
        self.vnodes = vnodes
        self._dirty = asyncio.Event()
        self._hosting: dict[str, str | None] = {}
        self.leaving = False  # draining: this node owns nothing, whatever the views say
        self.handoffs = 0
        self.last_handoffs: list[dict[str, object]] = []
        runtime.owns = router.owns
        metrics.gauge("roost_ring_version", lambda: [((), float(router.ring.version))])
        metrics.gauge("roost_members", self._member_counts)

    def _member_counts(self) -> list[tuple[tuple[str, ...], float]]:
        counts: dict[str, int] = {}
        for m in self.router.view.members.values():
            counts[str(m.status)] = counts.get(str(m.status), 0) + 1
        return [((k,), float(v)) for k, v in sorted(counts.items())]

    def on_view(self, view: MemberView) -> None:
        if view.version < self.router.view.version:
            return  # an older view delivered late: ignore
        active = view.active_ids()
        if self.leaving:
            active = [i for i in active if i != self.node_id]
        ring = self._ring(view, active)
        hosting = _hosting(view)
        changed = not ring.same_members(self.router.ring) or hosting != self._hosting
        self._hosting = hosting
        self.router.update(view, ring)
        if changed:
            log.info("ring now %s (view %d)", list(ring.members), view.version)
            self._dirty.set()

    def leave(self) -> None:
        """Draining: take this node off its own ring at once, without waiting for the gossip of
        its `draining` status to come back (or for a serf agent that cannot publish it). Every
        key then has a new owner here, so calls that reach this node are sent on to it instead
        of activating an actor it is handing off. The drain itself hands every activation off
        (`Runtime.flush_all`); a rebalance running meanwhile only shares that work."""
        self.leaving = True
        self.router.leaving = True
        view = self.router.view
        ids = [i for i in view.active_ids() if i != self.node_id]
        self.router.update(view, self._ring(view, ids))

    def _ring(self, view: MemberView, active: list[str]) -> Ring:
        """The ring over `active`: the SHA-256 ring, or the older one while a member that
        predates it is active (a rolling upgrade); the current ring reused when only the view's
        version changed (most views: no hashing)."""
        old = self.router.ring
        legacy = _upgrading(view, active)
        if legacy != isinstance(old, LegacyRing) and active:
            log.warning(
                "%s", "members that predate the SHA-256 ring are active: routing with their ring "
                "until they are upgraded" if legacy else "every member computes the SHA-256 "
                "ring: moving to it (a rebalance)",
            )  # fmt: skip
        vnodes = LEGACY_VNODES if legacy else self.vnodes
        if isinstance(old, LegacyRing) == legacy and (old.vnodes, old.members) == (
            vnodes,
            tuple(active),
        ):
            return old.with_version(view.version)
        if legacy:
            return LegacyRing(active, vnodes, view.version)
        return Ring(active, vnodes, view.version)

    async def run(self) -> None:
        """Hand off what this node no longer owns, whenever the ring changes (and every sweep)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SWEEP_EVERY):  # (3.11's wait_for can eat a cancel)
                    await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.rebalance()
            except RoostError as exc:
                log.warning("handoff failed, will retry: %s", exc)
                self._dirty.set()
                await asyncio.sleep(0.5)

    async def rebalance(self) -> int:
        owns = self.router.owns
        acts = [a for k, a in list(self.runtime.active.items()) if not owns(*k)]
        if not acts:
            return 0
        t0 = time.perf_counter()
        n = await self.runtime.deactivate(acts, "handoff")
        dt = time.perf_counter() - t0
        self.metrics.handed_off(
            [(a.key.system, a.type.name) for a in acts if a.closed_reason == "handoff"], dt
        )
        self.handoffs += n
        entry: dict[str, object] = {"at": time.time(), "actors": n, "seconds": round(dt, 4)}
        self.last_handoffs = [*self.last_handoffs, entry][-20:]
        log.info("handed off %d activations in %.3fs", n, dt)
        return n


def _hosting(view: MemberView) -> dict[str, str | None]:
    """Which systems each member declares: a change moves the per-system rings."""
    return {m.id: m.tags.get(SYSTEMS_TAG) for m in view.members.values()}


def _upgrading(view: MemberView, active: list[str]) -> bool:
    """Whether an active member computes the ring of Roost before the SHA-256 ring (it does not
    advertise the `ring` tag): then every node routes with that ring, so all agree."""
    for mid in active:
        m = view.get(mid)
        if m is not None and m.tags.get(RING_TAG) != HASH_NAME:
            return True
    return False
