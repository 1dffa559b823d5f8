"""Roost's Prometheus metrics: one `Metrics` object per node, never a process-global registry.

The invocation path records into plain dicts (a few hundred nanoseconds) and a custom collector
turns them into labelled families at scrape time, so metrics cost almost nothing per call.
Labels are `system` and actor `type`, never actor instances: cardinality stays bounded. The peer
link's families are labelled by `peer`, a member id: bounded by the cluster's size, and a departed
member's series are dropped (`forget_peer`).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

Counts = dict[tuple[str, ...], int]  # label values -> count
GaugeReader = Callable[[], Iterable[tuple[tuple[str, ...], float]]]

# 0.1 ms .. 10 s: in-process turns take microseconds, forwarded HTTP calls milliseconds.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# why the link server refused or cut a peer's connection (see roost.placement.linkserver)
LINK_REFUSALS = ("auth", "wrong_node", "version", "frame", "oversized", "no_hello", "silent")
LINK_SERVED = ("call", "broadcast", "ping")
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(slots=True)
class Histogram:
    """Cumulative-at-scrape bucket counts; `observe` is a bisect and two additions."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        out, acc = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            acc += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(acc)))
        return out


class Metrics:
    """All of a node's metric state. Counters are dicts keyed by label tuples."""

    def __init__(self, node_id: str = "", *, process: bool = True) -> None:
        self.node_id = node_id
        self.invocations: Counts = {}  # system, type, action, outcome
        self.latency: dict[tuple[str, str, str], Histogram] = {}
        self.forwarded: Counts = {}  # system, type, outcome
        self.activations: Counts = {}
        self.deactivations: Counts = {}  # system, type, reason
        self.snapshot_writes: Counts = {}
        self.snapshot_latency = Histogram(STORE_BUCKETS)
        self.store_errors: Counts = {}  # kind
        self.cas_conflicts: Counts = {}
        self.lease_waits: Counts = {}
        self.handoffs: Counts = {}
        self.handoff_latency = Histogram(STORE_BUCKETS)
        self.shed: Counts = {}  # system, type, reason (mailbox | inflight)
        self.workflow_errors: Counts = {}  # kind
        # the peer link, client side (see roost.placement.link)
        self.link_connections: Counts = {}  # peer
        self.link_handshake_failures: Counts = {}  # peer, reason (unreachable | denied)
        self.link_calls: Counts = {}  # peer, kind, outcome
        self.link_sent_bytes: Counts = {}  # peer
        self.link_received_bytes: Counts = {}  # peer
        self.link_roundtrip = Histogram(LATENCY_BUCKETS)
        # ... and server side (see roost.placement.linkserver); every reason and kind starts at 0
        # so that an alert on a counter's increase fires on its first one
        self.link_accepted: Counts = {(): 0}
        self.link_refused: Counts = dict.fromkeys(((r,) for r in LINK_REFUSALS), 0)  # reason
        self.link_served: Counts = dict.fromkeys(((k,) for k in LINK_SERVED), 0)  # frame kind
        self.gauges: dict[str, GaugeReader] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        if process:
            ProcessCollector(namespace="roost", registry=self.registry)

    # --- hot path --------------------------------------------------------------------------

    def invocation(
        self, system: str, actor_type: str, action: str, outcome: str, seconds: float
    ) -> None:
        key = (system, actor_type, action, outcome)
        inv = self.invocations
        inv[key] = inv.get(key, 0) + 1
        lkey = (system, actor_type, action)
        h = self.latency.get(lkey)
        if h is None:
            h = self.latency[lkey] = Histogram(LATENCY_BUCKETS)
        h.observe(seconds)

    # --- everything else -------------------------------------------------------------------

    @staticmethod
    def bump(counter: Counts, key: tuple[str, ...], n: int = 1) -> None:
        counter[key] = counter.get(key, 0) + n

    def handed_off(self, types: Iterable[tuple[str, str]], seconds: float) -> None:
        """One handoff batch (a rebalance or a drain): the (system, type) of every activation
        handed to another node, and how long the whole batch took."""
        for key in types:
            self.handoffs[key] = self.handoffs.get(key, 0) + 1
        self.handoff_latency.observe(seconds)

    def forget_peer(self, peer: str) -> None:
        """Drop every series of a peer link to `peer` (a member that left the cluster)."""
        for counter in (
            self.link_connections,
            self.link_handshake_failures,
            self.link_calls,
            self.link_sent_bytes,
            self.link_received_bytes,
        ):
            for key in [k for k in counter if k[0] == peer]:
                del counter[key]

    def gauge(self, name: str, read: GaugeReader) -> None:
        """Register a gauge family read at scrape time (see `_GAUGES` for names and labels)."""
        self.gauges[name] = read

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


# name -> (help, label names); read at scrape time from callbacks the node registers
_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "roost_active_activations": ("Activations currently in memory", ("system", "type")),
    "roost_members": ("Cluster members by status in this node's view", ("status",)),
    "roost_ring_version": ("Version of the membership view the ring was built from", ()),
    "roost_draining": ("1 while this node is draining", ()),
    "roost_ready": ("1 while this node is ready", ()),
    "roost_mailbox_depth": (
        "Invocations waiting for a turn, summed per actor type",
        ("system", "type"),
    ),
    "roost_inflight_invocations": ("Invocations in flight on this node", ()),
    "roost_serf_agent_restarts": ("Times the supervised serf agent was restarted", ()),
    "roost_link_connected": ("1 while the peer link to a member is connected, else 0", ("peer",)),
    "roost_link_calls_in_flight": (
        "Calls to a member over the peer link waiting for their outcome",
        ("peer",),
    ),
}


class _Collector:
    def __init__(self, m: Metrics) -> None:
        self.m = m

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        m = self.m
        yield _counter(
            "roost_invocations",
            "Invocations by action and outcome",
            ("system", "type", "action", "outcome"),
            m.invocations,
        )
        lat = HistogramMetricFamily(
            "roost_invocation_duration_seconds",
            "Invocation latency on the node that ran the turn",
            labels=("system", "type", "action"),
        )
        for labels, h in sorted(m.latency.items()):
            lat.add_metric(list(labels), h.buckets(), h.total)
        yield lat
        yield _counter(
            "roost_forwarded_invocations",
            "Invocations forwarded to the owning node",
            ("system", "type", "outcome"),
            m.forwarded,
        )
        yield _counter("roost_activations", "Activations", ("system", "type"), m.activations)
        yield _counter(
            "roost_deactivations",
            "Deactivations by reason",
            ("system", "type", "reason"),
            m.deactivations,
        )
        yield _counter(
            "roost_snapshot_writes",
            "State writes to the statestore",
            ("system", "type"),
            m.snapshot_writes,
        )
        yield _histogram(
            "roost_snapshot_write_duration_seconds",
            "Statestore write batch latency",
            m.snapshot_latency,
        )
        yield _counter(
            "roost_statestore_errors", "Statestore errors by kind", ("kind",), m.store_errors
        )
        yield _counter(
            "roost_cas_conflicts",
            "Fenced writes refused (revision or owner moved)",
            ("system", "type"),
            m.cas_conflicts,
        )
        yield _counter(
            "roost_lease_waits",
            "Activations that found the lease held by another node",
            ("system", "type"),
            m.lease_waits,
        )
        yield _counter(
            "roost_handoffs",
            "Activations handed off to another node",
            ("system", "type"),
            m.handoffs,
        )
        yield _histogram(
            "roost_handoff_duration_seconds",
            "Time to hand off one batch of activations",
            m.handoff_latency,
        )
        yield _counter(
            "roost_shed",
            "Invocations refused with 429 by backpressure: a full actor mailbox or the node's "
            "in-flight bound",
            ("system", "type", "reason"),
            m.shed,
        )
        yield _counter(
            "roost_workflow_errors",
            "Failed workflow steps (side effects, broadcasts)",
            ("kind",),
            m.workflow_errors,
        )
        yield from _link_families(m)
        for name, (help_text, label_names) in _GAUGES.items():
            g = GaugeMetricFamily(name, help_text, labels=label_names)
            read = m.gauges.get(name)
            for label_values, value in read() if read else ():
                g.add_metric(list(label_values), value)
            yield g


def _link_families(m: Metrics) -> Iterator[Metric]:
    yield _counter(
        "roost_link_connections_opened",
        "Peer link connections this node opened and authenticated, per member",
        ("peer",),
        m.link_connections,
    )
    yield _counter(
        "roost_link_handshake_failures",
        "Peer link connections that failed before use: unreachable (no connection, no answer, "
        "another node at the address) or denied (the peer refused our cluster credentials)",
        ("peer", "reason"),
        m.link_handshake_failures,
    )
    yield _counter(
        "roost_link_calls",
        "Calls and broadcasts sent over the peer link by outcome: ok, error (an error reply), "
        "unreachable (not sent), lost (sent, then the connection was cut), timeout (sent, no "
        "reply in time)",
        ("peer", "kind", "outcome"),
        m.link_calls,
    )
    yield _counter(
        "roost_link_sent_bytes", "Frame bytes written to a peer link", ("peer",), m.link_sent_bytes
    )
    yield _counter(
        "roost_link_received_bytes",
        "Frame bytes read from a peer link",
        ("peer",),
        m.link_received_bytes,
    )
    yield _histogram(
        "roost_link_roundtrip_seconds",
        "Peer link round trip of a call or broadcast that got a reply (sent to reply read)",
        m.link_roundtrip,
    )
    yield _counter(
        "roost_link_connections_accepted",
        "Peer link connections this node's link server accepted",
        (),
        m.link_accepted,
    )
    yield _counter(
        "roost_link_connections_refused",
        "Peer link connections this node's link server refused or cut, by reason",
        ("reason",),
        m.link_refused,
    )
    yield _counter(
        "roost_link_frames_served",
        "Frames from authenticated peers this node's link server handled, by kind",
        ("kind",),
        m.link_served,
    )


def _counter(
    name: str, help_text: str, labels: tuple[str, ...], values: Counts
) -> CounterMetricFamily:
    fam = CounterMetricFamily(name, help_text, labels=labels)
    for key, n in sorted(values.items()):
        fam.add_metric(list(key), n)
    return fam


def _histogram(name: str, help_text: str, h: Histogram) -> HistogramMetricFamily:
    fam = HistogramMetricFamily(name, help_text)
    fam.add_metric([], h.buckets(), h.total)
    return fam
