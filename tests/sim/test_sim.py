"""Deterministic cluster simulation: seeded joins, graceful leaves, crashes and partitions under a
workload, with the placement invariants checked at the end of every run.

Invariants:
- single writer: the successful writes of each actor, in revision order, come from one
  activation at a time (an activation never writes again after another one has);
- no acknowledged update of a sync actor is lost, and none is applied twice;
- once the network heals and gossip settles, every node builds the same ring, of the nodes that
  are really active, and every actor answers.

`ROOST_SIM_SEEDS` sets how many seeds run (default 200); a failure names its seed, and
`ROOST_SIM_SEED=N` replays one.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from dataclasses import dataclass, field

import pytest

from roost.errors import RoostError
from roost.membership.base import MemberStatus
from tests.sim import vloop
from tests.sim.cluster import DETECT_S, GOSSIP_TICK, LEASE_S, Cluster

ACTORS = 12
CLIENTS = 6
EVENTS = 10
MAX_NODES = 5


@dataclass
class Outcome:
    seed: int
    acked: dict[str, set[str]] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)  # op -> when its ack arrived
    reads: list[tuple[str, float, list[str]]] = field(default_factory=list)  # actor, start, ops
    errors: Counter[str] = field(default_factory=Counter)
    unknown: int = 0
    events: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.violations.append(what)


async def _client(
    c: Cluster, k: int, rng: random.Random, out: Outcome, stop: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        actor = f"l{rng.randrange(ACTORS)}"
        via = rng.choice(sorted(c.nodes))
        op = f"c{k}-{n}"
        n += 1
        loop = asyncio.get_running_loop()
        try:
            if rng.random() < 0.2:
                start = loop.time()
                out.reads.append((actor, start, await c.read(via, actor)))
            else:
                await c.invoke(via, actor, op)
                out.acked.setdefault(actor, set()).add(op)
                out.acked_at[op] = loop.time()
        except RoostError as exc:
            out.errors[exc.code] += 1
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise
            out.unknown += 1  # the node it called crashed mid-call
        await asyncio.sleep(rng.uniform(0.02, 0.12))


async def _chaos(c: Cluster, rng: random.Random, out: Outcome) -> None:
    next_id = len(c.nodes)
    for _ in range(EVENTS):
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        live = sorted(c.nodes)
        down = sorted(n for n, s in c.status.items() if n not in c.nodes)
        choice = rng.choice(["join", "leave", "crash", "partition", "heal", "restart"])
        t = f"t={asyncio.get_running_loop().time():.1f}"
        if choice == "join" and len(live) < MAX_NODES:
            name = f"n{next_id}"
            next_id += 1
            c.join(name)
        elif choice == "restart" and down and len(live) < MAX_NODES:
            name = rng.choice(down)
            c.join(name)  # same id, new incarnation: takes its own stale leases back
        elif choice == "leave" and len(live) > 1:
            name = rng.choice(live)
            out.events.append(f"{t} leave {name} (draining)")
            await c.leave(name)
        elif choice == "crash" and len(live) > 1:
            name = rng.choice(live)
            c.crash(name)
        elif choice == "partition" and not c.groups and len(live) > 1:
            rng.shuffle(live)
            cut = rng.randrange(1, len(live))
            c.partition([set(live[:cut]), set(live[cut:])])
            name = f"{sorted(live[:cut])}|{sorted(live[cut:])}"
        elif choice == "heal" and c.groups:
            c.heal()
            name = ""
        else:
            continue
        out.events.append(f"{t} {choice} {name}".strip())


async def _gossip(c: Cluster) -> None:
    while True:
        c.gossip_tick()
        await asyncio.sleep(GOSSIP_TICK)


async def _scenario(seed: int) -> Outcome:
    rng = random.Random(seed)
    out = Outcome(seed)
    c = Cluster(rng)
    for i in range(3):
        c.join(f"n{i}")
    gossip = asyncio.create_task(_gossip(c))
    await asyncio.sleep(2 * GOSSIP_TICK)
    stop = asyncio.Event()
    clients = [asyncio.create_task(_client(c, k, rng, out, stop)) for k in range(CLIENTS)]
    try:  # in virtual time: a stuck drain or handoff shows up here, not as a hung test
        async with asyncio.timeout(EVENTS * 4.0 + 60.0):
            await _chaos(c, rng, out)
    except TimeoutError:
        out.fail(f"the scenario got stuck (deadlock?) after {out.events[-3:]}")
        stop.set()
        c.stop()
        return out
    stop.set()
    await asyncio.gather(*clients)
    c.heal()
    await asyncio.sleep(DETECT_S + LEASE_S + 5.0)  # views settle, handoffs finish, leases lapse
    _check_ring(c, out)
    _check_reads(out)
    await _check_state(c, rng, out)
    _check_single_writer(c, out)
    gossip.cancel()
    c.stop()
    await asyncio.sleep(0)
    return out


def _check_ring(c: Cluster, out: Outcome) -> None:
    active = sorted(n for n, s in c.status.items() if s is MemberStatus.ACTIVE and n in c.nodes)
    for node in c.nodes.values():
        if list(node.router.ring.members) != active:
            out.fail(f"{node.id} ring {list(node.router.ring.members)} != active {active}")


async def _check_state(c: Cluster, rng: random.Random, out: Outcome) -> None:
    for actor in sorted({f"l{i}" for i in range(ACTORS)}):
        via = rng.choice(sorted(c.nodes))
        try:
            ops = await c.read(via, actor)
        except RoostError as exc:
            out.fail(f"{actor} does not answer after healing: {exc.code} {exc.message}")
            continue
        lost = out.acked.get(actor, set()) - set(ops)
        if lost:
            out.fail(f"{actor} lost acknowledged ops {sorted(lost)[:5]} (has {len(ops)})")
        dups = [op for op, n in Counter(ops).items() if n > 1]
        if dups:
            out.fail(f"{actor} applied ops twice: {dups[:5]}")


def _check_reads(out: Outcome) -> None:
    """No stale reads: a read sees every op acknowledged before the read was sent."""
    for actor, start, ops in out.reads:
        seen = set(ops)
        missing = [
            op for op in out.acked.get(actor, ()) if out.acked_at[op] < start and op not in seen
        ]
        if missing:
            out.fail(f"stale read of {actor} at t={start:.2f}: missing acked {sorted(missing)[:3]}")


def _check_single_writer(c: Cluster, out: Outcome) -> None:
    for key, writes in c.log.writes.items():
        writes.sort()
        seen: set[tuple[str, int]] = set()
        prev: tuple[str, int] | None = None
        for rev, node, gen in writes:
            who = (node, gen)
            if who != prev:
                if who in seen:
                    out.fail(f"{key}: activation {who} wrote again at r{rev} after another did")
                seen.add(who)
                prev = who


def run_seed(seed: int) -> Outcome:
    return vloop.run(_scenario(seed))


def _seeds() -> list[int]:
    if "ROOST_SIM_SEED" in os.environ:
        return [int(os.environ["ROOST_SIM_SEED"])]
    return list(range(int(os.environ.get("ROOST_SIM_SEEDS", "200"))))


@pytest.mark.parametrize("seed", _seeds())
def test_invariants_hold(seed: int) -> None:
    out = run_seed(seed)
    total = sum(len(v) for v in out.acked.values())
    assert total > 0, f"seed {seed}: the workload acknowledged nothing"
    if out.violations:  # (pytest.fail: no assertion introspection of a stuck loop's state)
        pytest.fail(
            f"seed {seed} (replay: ROOST_SIM_SEED={seed}): {out.violations}\nevents: {out.events}",
            pytrace=False,
        )


def test_simulation_is_deterministic() -> None:
    a, b = run_seed(7), run_seed(7)
    assert a.events == b.events
    assert a.acked == b.acked and a.errors == b.errors


def test_checker_catches_a_lost_update() -> None:
    out = Outcome(0, acked={"l0": {"x", "y"}})
    lost = out.acked["l0"] - {"x"}
    assert lost == {"y"}  # the same set arithmetic _check_state applies


def test_single_writer_check_catches_interleaving() -> None:
    async def go() -> Outcome:
        c = Cluster(random.Random(0))
        from roost.statestore.base import ActorKey

        k = ActorKey("sim", "l0")
        c.log.writes[k] = [(1, "a", 1), (2, "b", 1), (3, "a", 1)]
        out = Outcome(0)
        _check_single_writer(c, out)
        return out

    assert vloop.run(go()).violations
