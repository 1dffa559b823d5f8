"""Scenarios: seeded, pure schedules of faults. Same (name, seed, nodes) -> same schedule.

A `Fault` says what to do, to which nodes (0-based indexes), when (seconds after the workload
starts) and for how long; the executor in `chaos.faults` carries it out and records what
actually happened. Nothing here touches a process, a socket or the clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# kind -> (needs network namespaces, may make peers declare a live node failed or lose a
# crashed node's unflushed state). The second flag opens a snapshot loss window in the checker.
KINDS: dict[str, tuple[bool, bool]] = {
    "kill": (False, True),  # kill -9, restarted after `duration`
    "term": (False, False),  # SIGTERM (graceful drain), restarted after `duration`
    "restart": (False, False),  # SIGTERM, wait for the exit, start again at once
    "pause": (False, True),  # SIGSTOP the node and its serf agent for `duration`, then SIGCONT
    "rolling": (False, False),  # graceful restart of every node in turn, each back before next
    "outage": (False, False),  # statestore connections frozen for `duration`, then cut
    "partition": (True, True),  # targets and others cannot reach each other
    "oneway": (True, True),  # targets cannot send to others; others can still send to targets
    "loss": (True, True),  # inbound packets dropped at random (probability = `amount`)
    "latency": (True, False),  # node-to-node HTTP delayed by `amount` ms (userspace proxy)
    "bandwidth": (True, False),  # egress limited to `amount` kbit/s (tbf)
}


@dataclass(frozen=True, slots=True)
class Fault:
    at: float
    kind: str
    targets: tuple[int, ...]
    duration: float = 0.0
    others: tuple[int, ...] = ()
    amount: float = 0.0

    @property
    def crash_like(self) -> bool:
        return KINDS[self.kind][1]

    @property
    def needs_netns(self) -> bool:
        return KINDS[self.kind][0]

    def describe(self) -> str:
        def names(ix: tuple[int, ...]) -> str:
            return ",".join(f"n{i + 1}" for i in ix)

        s = f"{self.kind} {names(self.targets)}"
        if self.others:
            s += f" | {names(self.others)}"
        if self.amount:
            s += f" amount={self.amount:g}"
        if self.duration:
            s += f" for {self.duration:g}s"
        return f"t+{self.at:g}s {s}"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    seed: int
    nodes: int
    faults: tuple[Fault, ...]
    warmup: float = 8.0  # workload before the first fault
    cooldown: float = 12.0  # workload after the last fault healed
    # Scenarios whose length depends on the cluster (rolling restart) are bounded by this.
    max_seconds: float = 240.0
    min_clients: int = 0  # clients per node at least (a heavier load than --clients-per-node)

    @property
    def needs_netns(self) -> bool:
        return any(f.needs_netns for f in self.faults)

    @property
    def uses_latency(self) -> bool:
        return any(f.kind == "latency" for f in self.faults)

    @property
    def planned_seconds(self) -> float:
        end = max((f.at + f.duration for f in self.faults), default=self.warmup)
        return end + self.cooldown


W = 8.0  # the default warmup, also the start of the first fault


def _kill_one(rng: random.Random, n: int) -> list[Fault]:
    return [Fault(W, "kill", (rng.randrange(n),), duration=12.0)]


def _pause_one(rng: random.Random, n: int) -> list[Fault]:
    return [Fault(W, "pause", (rng.randrange(n),), duration=15.0)]


def _split(rng: random.Random, n: int, size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    order = list(range(n))
    rng.shuffle(order)
    return tuple(sorted(order[:size])), tuple(sorted(order[size:]))


def _partition_halves(rng: random.Random, n: int) -> list[Fault]:
    a, b = _split(rng, n, n // 2)
    return [Fault(W, "partition", a, duration=20.0, others=b)]


def _partition_minority(rng: random.Random, n: int) -> list[Fault]:
    a, b = _split(rng, n, max(1, (n - 1) // 2))
    return [Fault(W, "partition", a, duration=20.0, others=b)]


def _flaky(rng: random.Random, n: int) -> list[Fault]:
    everyone = tuple(range(n))
    return [
        Fault(W, "loss", everyone, duration=25.0, amount=round(rng.uniform(0.05, 0.15), 2)),
        Fault(W, "latency", everyone, duration=25.0, amount=float(rng.randrange(40, 160))),
        Fault(W + 5, "bandwidth", (rng.randrange(n),), duration=15.0, amount=2000.0),
    ]


def _outage(rng: random.Random, n: int) -> list[Fault]:
    return [Fault(W, "outage", (), duration=float(rng.randrange(8, 13)))]


def _rolling(rng: random.Random, n: int) -> list[Fault]:
    order = list(range(n))
    rng.shuffle(order)
    return [Fault(W, "rolling", tuple(order), duration=0.0, amount=3.0)]


# Scenarios run under a heavier load than the default: their clients per node, at least.
# A rollout under load: drain time must not grow with the load (issue 23).
HEAVY: dict[str, int] = {"rolling-restart-heavy": 6}


def _mixed(rng: random.Random, n: int, *, network: bool = True) -> list[Fault]:
    """Random faults one after another with a few quiet seconds between them."""
    kinds = [k for k, (netns, _) in KINDS.items() if network or not netns]
    kinds.remove("rolling")  # covered by its own scenario; too long to mix
    faults: list[Fault] = []
    t = W
    for _ in range(6 if n > 3 else 4):
        kind = rng.choice(kinds)
        dur = float(rng.randrange(6, 16))
        one = (rng.randrange(n),)
        if kind in ("partition", "oneway"):
            a, b = _split(rng, n, rng.randrange(1, n // 2 + 1))
            faults.append(Fault(t, kind, a, dur, others=b))
        elif kind == "loss":
            faults.append(Fault(t, kind, one, dur, amount=round(rng.uniform(0.1, 0.3), 2)))
        elif kind == "latency":
            faults.append(Fault(t, kind, one, dur, amount=float(rng.randrange(50, 300))))
        elif kind == "bandwidth":
            faults.append(Fault(t, kind, one, dur, amount=float(rng.choice((500, 1000, 4000)))))
        elif kind == "outage":
            faults.append(Fault(t, kind, (), dur))
        elif kind == "restart":
            faults.append(Fault(t, kind, one, 0.0))
            dur = 0.0
        else:
            faults.append(Fault(t, kind, one, dur))
        t += dur + float(rng.randrange(4, 9))
    return faults


BUILDERS: dict[str, Callable[[random.Random, int], list[Fault]]] = {
    "rolling-restart": _rolling,
    "rolling-restart-heavy": _rolling,
    "kill-one": _kill_one,
    "partition-halves": _partition_halves,
    "partition-minority": _partition_minority,
    "flaky-network": _flaky,
    "pause-one": _pause_one,
    "statestore-outage": _outage,
    "mixed": _mixed,
}
SCENARIOS = tuple(BUILDERS)
SMOKE = ("kill-one", "partition-minority")


def build(name: str, seed: int, nodes: int, *, network: bool = True) -> Scenario:
    """The schedule of scenario `name` for `nodes` nodes. `network=False` (loopback mode) keeps
    `mixed` to process and statestore faults and refuses scenarios that need namespaces."""
    if name not in BUILDERS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    if nodes < 2:
        raise ValueError("a chaos cluster needs at least 2 nodes")
    rng = random.Random(f"{name}/{seed}/{nodes}")
    faults = _mixed(rng, nodes, network=network) if name == "mixed" else BUILDERS[name](rng, nodes)
    scenario = Scenario(name, seed, nodes, tuple(faults), min_clients=HEAVY.get(name, 0))
    if not network and scenario.needs_netns:
        raise ValueError(
            f"scenario {name!r} needs network namespaces (run as root without --loopback)"
        )
    return scenario
