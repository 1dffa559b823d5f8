"""Scrape real nodes and check every metric family the node promises, with exactly its labels.

Two nodes share a SQLite store; the test drives each family at least once (an ok call, an action
that raises, a forward, unreadable state, a lost compare-and-set, a lease held elsewhere, a queue
behind a slow turn, a handoff) so that every labelled family has samples whose label names can be
checked, and checks that no actor instance ever shows up as a label value (nor anything but a
member id as a peer link's `peer`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from roost import Actor, Context, Value, action
from roost.membership.base import MemberStatus
from roost.node.node import Node
from roost.statestore import ActorKey, EncryptedStore, Keyring, WriteItem, generate_key
from roost.statestore.sqlite import SqliteStore
from tests.node.fake_cluster import cluster, owned_by

SYS = "spawn-system"
IDS = ["a", "b"]
ST = ("system", "type")

# family -> (type, label names); histogram buckets add `le`
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "roost_invocations": ("counter", (*ST, "action", "outcome")),
    "roost_invocation_duration_seconds": ("histogram", (*ST, "action")),
    "roost_forwarded_invocations": ("counter", (*ST, "outcome")),
    "roost_active_activations": ("gauge", ST),
    "roost_activations": ("counter", ST),
    "roost_deactivations": ("counter", (*ST, "reason")),
    "roost_snapshot_writes": ("counter", ST),
    "roost_snapshot_write_duration_seconds": ("histogram", ()),
    "roost_statestore_errors": ("counter", ("kind",)),
    "roost_cas_conflicts": ("counter", ST),
    "roost_lease_waits": ("counter", ST),
    "roost_handoffs": ("counter", ST),
    "roost_handoff_duration_seconds": ("histogram", ()),
    "roost_ring_version": ("gauge", ()),
    "roost_members": ("gauge", ("status",)),
    "roost_draining": ("gauge", ()),
    "roost_ready": ("gauge", ()),
    "roost_mailbox_depth": ("gauge", ST),
    "roost_inflight_invocations": ("gauge", ()),
    "roost_shed": ("counter", (*ST, "reason")),
    "roost_serf_agent_restarts": ("gauge", ()),
    "roost_process_cpu_seconds": ("counter", ()),
    "roost_process_resident_memory_bytes": ("gauge", ()),
    "roost_process_open_fds": ("gauge", ()),
    "roost_process_start_time_seconds": ("gauge", ()),
    "roost_process_virtual_memory_bytes": ("gauge", ()),
    "roost_process_max_fds": ("gauge", ()),
    "roost_workflow_errors": ("counter", ("kind",)),
    # the peer link (a's forward to b goes over it): client side on a, server side on b
    "roost_link_connections_opened": ("counter", ("peer",)),
    "roost_link_handshake_failures": ("counter", ("peer", "reason")),
    "roost_link_calls": ("counter", ("peer", "kind", "outcome")),
    "roost_link_calls_in_flight": ("gauge", ("peer",)),
    "roost_link_connected": ("gauge", ("peer",)),
    "roost_link_sent_bytes": ("counter", ("peer",)),
    "roost_link_received_bytes": ("counter", ("peer",)),
    "roost_link_roundtrip_seconds": ("histogram", ()),
    "roost_link_connections_accepted": ("counter", ()),
    "roost_link_connections_refused": ("counter", ("reason",)),
    "roost_link_frames_served": ("counter", ("kind",)),
}
# exported, but nothing increments them yet (no samples, so no label names to check); every
# exported family is in FAMILIES or here, so a new one cannot go unchecked
DECLARED_ONLY: set[str] = set()
# issue 8: invocation latency buckets from 0.1 ms to 10 s
LATENCY_RANGE = (0.0001, 10.0)


class Box(Actor):
    name = "box"
    kind = "unnamed"
    durability = "sync"

    @action
    async def put(self, payload: Any, ctx: Context) -> Value:
        return Value().state({"v": payload}).response(payload)

    @action
    async def boom(self, ctx: Context) -> Value:
        raise RuntimeError("boom")

    @action
    async def stray(self, ctx: Context) -> Value:  # its side effect fails: a workflow error
        return Value().response("sent").effect("nobody-home", "knock")

    @action
    async def nap(self, payload: float, ctx: Context) -> Value:
        await asyncio.sleep(payload)
        return Value().response("rested")


Families = dict[str, tuple[str, list[Sample]]]


async def scrape(http: aiohttp.ClientSession, node: Node) -> Families:
    async with http.get(f"http://{node.config.http}/metrics") as r:
        assert r.status == 200
        text = await r.text()
    return {f.name: (f.type, list(f.samples)) for f in text_string_to_metric_families(text)}


def merge(*scrapes: Families) -> Families:
    out: Families = {}
    for one in scrapes:
        for name, (kind, samples) in one.items():
            out.setdefault(name, (kind, []))[1].extend(samples)
    return out


async def call(
    http: aiohttp.ClientSession, node: Node, actor: str, act: str, body: Any, ms: int = 10_000
) -> int:
    url = f"http://{node.config.http}/v1/systems/{SYS}/actors/{actor}/actions/{act}?parent=box"
    headers = {"X-Roost-Timeout-Ms": str(ms)}
    async with http.post(url, json=body, headers=headers) as r:
        await r.read()
        return r.status


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_every_family_and_its_labels(tmp_path: Path, key: str) -> None:
    db = f"{tmp_path}/cluster.db"
    mine = {p: owned_by("a", IDS, SYS, f"{p}-") for p in ("ok", "bad", "cas", "held", "nap")}
    theirs = owned_by("b", IDS, SYS, "fwd-")
    bounded = {"a": {"max_inflight": 3}}  # the naps below fill it: one more call is shed
    async with (
        cluster(tmp_path, key, IDS, [Box], per_node=bounded) as (a, b),
        aiohttp.ClientSession() as http,
    ):
        assert await call(http, a, mine["ok"], "put", 1) == 200
        assert await call(http, a, mine["ok"], "boom", None) == 500
        assert await call(http, a, theirs, "put", 2) == 200  # forwarded to b
        assert await call(http, a, mine["ok"], "stray", None) == 200
        async with asyncio.timeout(10):  # the effect runs after the reply
            while not a.metrics.workflow_errors:
                await asyncio.sleep(0.01)

        raw = SqliteStore(db)
        try:
            # state sealed with a key this cluster does not have
            alien = EncryptedStore(raw, Keyring.from_text(generate_key()))
            k = ActorKey(SYS, mine["bad"])
            await alien.acquire(k, "ghost", 10.0, parent="box")
            await alien.write("ghost", [WriteItem(k, b"{}", 0, release=True)], 10.0)
            assert await call(http, a, mine["bad"], "put", 3) == 500
            # another writer takes the row over under a's feet: a's next fenced write loses
            assert await call(http, a, mine["cas"], "put", 4) == 200
            ours = EncryptedStore(raw, Keyring.from_text(key))
            k = ActorKey(SYS, mine["cas"])
            row = await ours.acquire(k, "thief", 10.0, steal_from={"a"})
            await ours.write("thief", [WriteItem(k, b"{}", row.revision, release=True)], 10.0)
            # the fenced write loses, the activation steps down, and the router runs the call
            # again on a fresh activation (nothing had been applied): 200 and one CAS conflict
            assert await call(http, a, mine["cas"], "put", 5) == 200
            # a lease held by a node that is not a member: a waits, then gives up (503)
            await ours.acquire(ActorKey(SYS, mine["held"]), "ghost", 30.0, parent="box")
            assert await call(http, a, mine["held"], "put", 6, ms=300) == 503
        finally:
            await raw.close()

        nap = mine["nap"]
        naps = [asyncio.ensure_future(call(http, a, nap, "nap", 2.0)) for _ in range(3)]
        async with asyncio.timeout(10):
            while a.inflight < 3:  # one turn runs, two wait in the mailbox
                await asyncio.sleep(0.01)
        assert await call(http, a, mine["ok"], "put", 7) == 429  # shed: --max-inflight 3
        busy = await scrape(http, a)  # a scrape is not an invocation: never shed
        assert await asyncio.gather(*naps) == [200] * 3

        await b.membership.set_status(MemberStatus.JOINING)  # b leaves the ring: hands off
        async with asyncio.timeout(10):
            while b.core.runtime.active or not b.metrics.handoffs:
                await asyncio.sleep(0.02)
        end = merge(await scrape(http, a), await scrape(http, b))

    families = merge(busy, end)
    missing = (set(FAMILIES) | DECLARED_ONLY) - set(families)
    assert not missing, f"families not exported: {sorted(missing)}"
    unlisted = set(families) - set(FAMILIES) - DECLARED_ONLY
    assert not unlisted, f"exported but not checked here: {sorted(unlisted)}"
    for name, (kind, labels) in FAMILIES.items():
        got_kind, samples = families[name]
        assert got_kind == kind, name
        assert samples, f"{name} has no samples: the test did not drive it"
        for s in samples:
            extra = {"le"} if s.name.endswith("_bucket") else set()
            assert set(s.labels) == set(labels) | extra, f"{s.name}: {sorted(s.labels)}"
            if "type" in s.labels:  # a type, never an actor instance
                assert s.labels["type"] in ("box", "unknown"), s
            if "peer" in s.labels:  # a member id, never an address or a call
                assert s.labels["peer"] in IDS, s

    samples = [s for _, ss in end.values() for s in ss]
    inv = "roost_invocations_total"
    assert total(samples, inv, type="box", action="put", outcome="ok") >= 3
    assert total(samples, inv, type="box", action="boom", outcome="action_failed") == 1
    assert total(samples, inv, action="put", outcome="state_unreadable") == 1
    assert total(samples, inv, action="put", outcome="state_conflict") == 1  # the lost attempt
    assert total(samples, inv, action="put", outcome="unavailable") == 1
    fwd = "roost_forwarded_invocations_total"
    assert total(samples, fwd, type="box", outcome="ok") >= 1
    assert total(samples, "roost_statestore_errors_total", kind="decrypt") == 1
    assert total(samples, "roost_cas_conflicts_total", type="box") == 1
    assert total(samples, "roost_lease_waits_total", type="box") >= 1
    busy_samples = [s for _, ss in busy.values() for s in ss]
    assert total(busy_samples, "roost_mailbox_depth", type="box") >= 1  # 2 unless a turn ended
    assert total(busy_samples, "roost_inflight_invocations") >= 2
    assert total(busy_samples, "roost_shed_total", type="box", reason="inflight") == 1
    assert total(samples, "roost_handoffs_total", type="box") >= 1
    assert total(samples, "roost_deactivations_total", reason="handoff") >= 1
    assert total(samples, "roost_members", status="active") >= 1
    assert total(samples, "roost_workflow_errors_total", kind="effect") == 1
    link = "roost_link_calls_total"
    assert total(samples, link, peer="b", kind="call", outcome="ok") >= 1
    assert total(samples, "roost_link_connections_opened_total", peer="b") >= 1
    assert total(samples, "roost_link_connections_accepted_total") >= 1  # on b
    assert total(samples, "roost_link_frames_served_total", kind="call") >= 1
    assert total(samples, "roost_link_roundtrip_seconds_count") >= 1
    assert total(samples, "roost_link_sent_bytes_total", peer="b") > 0
    assert total(samples, "roost_link_connected", peer="b") == 1
    assert total(samples, "roost_link_connections_refused_total") == 0  # one secret: none

    runs: list[list[str]] = [[]]  # the `le` bounds of each series, which ends at +Inf
    for s in samples:
        if s.name == "roost_invocation_duration_seconds_bucket":
            runs[-1].append(s.labels["le"])
            if s.labels["le"] == "+Inf":
                runs.append([])
    assert runs.pop() == [] and runs
    for bounds in runs:
        finite = [float(b) for b in bounds[:-1]]
        assert finite == sorted(set(finite)), bounds
        assert (finite[0], finite[-1]) == LATENCY_RANGE, bounds
