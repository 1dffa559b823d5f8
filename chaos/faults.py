"""`Executor`: carries out a scenario's faults on a live cluster at their scheduled times, heals
each one when its time is up, and records what actually happened (`FaultRecord`).

`heal_all` is the safety net run after the schedule (and on failure): it removes every rule it
added, lifts limits and delays, unblocks the statestore, resumes paused nodes and starts any
node that is down, so the final checks always look at a fully healed cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from chaos import netns
from chaos.cluster import Cluster
from chaos.history import DrainRecord, FaultRecord
from chaos.pipes import DelayProxy, Relay
from chaos.scenario import Fault, Scenario

log = logging.getLogger("chaos.faults")


class Executor:
    def __init__(
        self,
        cluster: Cluster,
        relay: Relay,
        *,
        topology: netns.Topology | None,
        proxies: dict[int, DelayProxy],
        now: Callable[[], float],
    ) -> None:
        self.cluster = cluster
        self.relay = relay
        self.topology = topology
        self.proxies = proxies
        self.now = now
        self.records: list[FaultRecord] = []
        self.problems: list[str] = []  # e.g. a SIGTERM that did not exit 0
        self.warnings: list[str] = []  # what the nodes logged that a reader should see
        self.drains: list[DrainRecord] = []  # every graceful stop, in order
        self._rules: list[netns.Rule] = []
        self._tbf: set[int] = set()

    def ids(self, ix: tuple[int, ...]) -> tuple[str, ...]:
        return tuple(self.cluster.nodes[i].node_id for i in ix)

    async def run(self, scenario: Scenario) -> None:
        """Start each fault at its time (faults may overlap); return when all are healed."""
        t0 = time.monotonic() - self.now()

        async def one(f: Fault) -> None:
            await asyncio.sleep(max(0.0, t0 + f.at - time.monotonic()))  # the schedule
            start = self.now()
            detail = await self.apply(f)
            self.records.append(
                FaultRecord(
                    f.kind, self.ids(f.targets + f.others), start, self.now(), detail, f.crash_like
                )
            )
            log.info("%s: %s", f.describe(), detail)

        await asyncio.gather(*(one(f) for f in scenario.faults))

    async def apply(self, f: Fault) -> str:
        """Inject `f`, hold it for its duration, heal it; returns what happened."""
        c = self.cluster
        if f.kind in ("kill", "term"):
            (i,) = f.targets
            if f.kind == "kill":
                await c.kill(i)
                detail = "killed -9"
            else:
                detail = await self._term(i)
            await asyncio.sleep(f.duration)
            await c.start(i)
            await c.wait_ready(i)
            return f"{detail}; restarted and ready at t+{self.now():.1f}s"
        if f.kind == "restart":
            (i,) = f.targets
            detail = await self._term(i)
            await c.start(i)
            await c.wait_ready(i)
            return f"{detail}; ready again at t+{self.now():.1f}s"
        if f.kind == "rolling":
            parts = []
            for i in f.targets:
                parts.append(f"{c.nodes[i].node_id}: {await self._term(i)}")
                await c.start(i)
                await c.wait_ready(i)
                await asyncio.sleep(f.amount)  # the rollout's pause between pods
            return "; ".join(parts)
        if f.kind == "pause":
            (i,) = f.targets
            pids = c.pause(i)
            await asyncio.sleep(f.duration)
            c.resume(i)
            return f"SIGSTOP pids {pids}, SIGCONT after {f.duration:g}s"
        if f.kind == "outage":
            self.relay.block()
            await asyncio.sleep(f.duration)
            self.relay.unblock()
            return f"statestore blocked {f.duration:g}s, open connections then cut"
        return await self._network(f)

    async def _term(self, i: int) -> str:
        at = self.now()
        code, secs = await self.cluster.term(i)
        node = self.cluster.nodes[i].node_id
        if code != 0:
            self.problems.append(
                f"{node} did not exit 0 after SIGTERM (exit {code}, {secs:.1f}s): see its log"
            )
        lines = [
            line.strip()
            for line in self.cluster.log_of_last_run(i).splitlines()
            if "drain did not finish" in line or "drain failed" in line
        ]
        timed_out = code is None or any("drain did not finish" in line for line in lines)
        detail = lines[0] if lines else ""
        self.drains.append(DrainRecord(node, round(at, 2), round(secs, 2), code, timed_out, detail))
        if timed_out and code == 0:
            # the graceful path failed: the node fell back on the last-chance flush (and, in
            # Kubernetes, on the grace period not running out first)
            self.problems.append(
                f"{node}: graceful stop reached its drain timeout ({secs:.1f}s): {detail}"
            )
        elif lines:
            self.warnings.append(f"{node}: graceful stop took {secs:.1f}s: {lines[0]}")
        return f"SIGTERM exit {code} in {secs:.1f}s"

    async def _network(self, f: Fault) -> str:
        t = self.topology
        if t is None:
            raise RuntimeError(f"{f.kind} needs network namespaces")
        rules: list[netns.Rule] = []
        if f.kind == "partition":
            rules = netns.partition(t, f.targets, f.others)
        elif f.kind == "oneway":
            rules = netns.block(t, f.targets, f.others)
        elif f.kind == "loss":
            rules = netns.loss(t, f.targets, f.amount)
        elif f.kind == "latency":
            for i in f.targets:
                self.proxies[i].delay = f.amount / 1000.0
        elif f.kind == "bandwidth":
            for i in f.targets:
                await _sh(netns.tbf_add(t, i, f.amount))
                self._tbf.add(i)
        else:
            raise ValueError(f"unknown fault kind {f.kind!r}")
        for r in rules:
            await _sh(r.add())
            self._rules.append(r)
        await asyncio.sleep(f.duration)
        for r in rules:
            await self._unrule(r)
        if f.kind == "latency":
            for i in f.targets:
                self.proxies[i].delay = 0.0
        if f.kind == "bandwidth":
            for i in f.targets:
                await self._untbf(i)
        if f.others:
            arrow = "<-/->" if f.kind == "partition" else "-/->"
            group = f"{','.join(self.ids(f.targets))} {arrow} {','.join(self.ids(f.others))}"
            return f"{group} ({len(rules)} rules) for {f.duration:g}s"
        return f"{f.kind} {f.amount:g} for {f.duration:g}s ({len(rules)} rules)"

    async def _unrule(self, r: netns.Rule) -> None:
        if r in self._rules:
            self._rules.remove(r)
            await _sh(r.delete(), check=False)

    async def _untbf(self, i: int) -> None:
        if self.topology is not None and i in self._tbf:
            self._tbf.discard(i)
            await _sh(netns.tbf_del(self.topology, i), check=False)

    async def heal_all(self) -> list[str]:
        """Undo whatever is still in force; returns what had to be undone."""
        undone = []
        for r in list(self._rules):
            await self._unrule(r)
            undone.append(f"rule {r.ns} {' '.join(r.spec)}")
        for i in list(self._tbf):
            await self._untbf(i)
            undone.append(f"tbf n{i + 1}")
        for i, p in self.proxies.items():
            if p.delay:
                p.delay = 0.0
                undone.append(f"latency n{i + 1}")
        if self.relay.blocked:
            self.relay.unblock()
            undone.append("statestore outage")
        for i, n in enumerate(self.cluster.nodes):
            if n.paused:
                self.cluster.resume(i)
                undone.append(f"paused {n.node_id}")
            if n.pid is None:
                await self.cluster.start(i)
                undone.append(f"down {n.node_id}")
        for i in range(len(self.cluster.nodes)):
            with contextlib.suppress(RuntimeError):
                await self.cluster.wait_ready(i)
        return undone


async def _sh(cmd: netns.Cmd, check: bool = True) -> None:
    await asyncio.to_thread(netns.sh, cmd, check=check)
