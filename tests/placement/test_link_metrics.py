"""The peer link's metrics, read from the Prometheus text a node would serve: what a call, an
error reply, an unreachable peer, a cut connection, a missing reply, a refused secret and bad
frames count on each side; and the links following the membership view (`retain`): a departed
member's link is closed, its gauges go at once and its counters after `FORGET_AFTER`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from roost.errors import Overloaded, Timeout, Unavailable
from roost.membership.base import Member, MemberStatus
from roost.metrics import Metrics
from roost.placement import frames as f
from roost.placement import link as link_mod
from roost.placement.auth import Verifier, derive_key
from roost.placement.forward import HttpForwarder
from roost.placement.link import FORGET_AFTER, LINK_TAG, LinkForwarder
from roost.placement.linkserver import LinkServer, bind
from roost.placement.router import Unreachable
from tests.conftest import FakeClock, free_port, until
from tests.placement.test_link import (
    _BAD,
    SECRET,
    FakeHost,
    _call_frame,
    _hello,
    _raw,
    call,
    linked,
)

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
REFUSALS = ("auth", "wrong_node", "version", "frame", "oversized", "no_hello", "silent")
CALLS = "roost_link_calls_total"


def scrape(m: Metrics) -> Series:
    out: Series = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(m: Metrics, name: str, **labels: str) -> float | None:
    """One series' value; None when the series is not exported."""
    return scrape(m).get((name, frozenset(labels.items())))


def peers(m: Metrics, name: str) -> set[str]:
    return {dict(labels)["peer"] for n, labels in scrape(m) if n == name}


def refused(m: Metrics) -> dict[str, float]:
    name = "roost_link_connections_refused_total"
    return {r: value(m, name, reason=r) or 0.0 for r in REFUSALS}


def fresh() -> tuple[Metrics, Metrics]:
    return Metrics(process=False), Metrics(process=False)


async def test_calls_count_ok_the_connection_the_bytes_and_the_round_trips() -> None:
    cm, sm = fresh()
    async with linked(FakeHost(), client_metrics=cm, server_metrics=sm) as (_, fwd, b):
        await call(fwd, b, "warm")
        sent = value(cm, "roost_link_sent_bytes_total", peer="b") or 0.0
        received = value(cm, "roost_link_received_bytes_total", peer="b") or 0.0
        await call(fwd, b, "x", {"blob": "y" * 3000})  # echoed back: 3000 bytes each way
        body = {"channel": "news", "payload": None, "action": None, "metadata": {}, "id": "i",
                "caller": None}  # fmt: skip
        assert await fwd.broadcast(b, "sys", body, 2.0) == {"delivered": 2}
        assert value(cm, "roost_link_connected", peer="b") == 1
        assert value(cm, "roost_link_calls_in_flight", peer="b") == 0
    assert value(cm, CALLS, peer="b", kind="call", outcome="ok") == 2
    assert value(cm, CALLS, peer="b", kind="broadcast", outcome="ok") == 1
    assert value(cm, "roost_link_connections_opened_total", peer="b") == 1
    for reason in ("unreachable", "denied"):  # exported from 0: an alert sees the first one
        assert value(cm, "roost_link_handshake_failures_total", peer="b", reason=reason) == 0
    assert (value(cm, "roost_link_sent_bytes_total", peer="b") or 0) - sent > 3000
    assert (value(cm, "roost_link_received_bytes_total", peer="b") or 0) - received > 3000
    assert value(cm, "roost_link_roundtrip_seconds_count") == 3
    assert value(sm, "roost_link_connections_accepted_total") == 1
    assert value(sm, "roost_link_frames_served_total", kind="call") == 2
    assert value(sm, "roost_link_frames_served_total", kind="broadcast") == 1
    assert set(refused(sm).values()) == {0.0}


async def test_an_error_reply_counts_as_error_and_as_a_round_trip() -> None:
    cm, _ = fresh()
    host = FakeHost(errors={"x": Overloaded("busy", retry_after=1.0)})
    async with linked(host, client_metrics=cm) as (_, fwd, b):
        with pytest.raises(Overloaded):
            await call(fwd, b, "x")
    assert value(cm, CALLS, peer="b", kind="call", outcome="error") == 1
    assert value(cm, CALLS, peer="b", kind="call", outcome="ok") is None
    assert value(cm, "roost_link_roundtrip_seconds_count") == 1


async def test_calls_in_flight_per_peer() -> None:
    cm, _ = fresh()
    host = FakeHost(gates={"x": asyncio.Event()})
    async with linked(host, client_metrics=cm) as (_, fwd, b):
        tasks = [asyncio.create_task(call(fwd, b, "x")) for _ in range(3)]
        await until(lambda: len(host.calls) == 3)
        assert value(cm, "roost_link_calls_in_flight", peer="b") == 3
        host.gates["x"].set()
        await asyncio.gather(*tasks)
        assert value(cm, "roost_link_calls_in_flight", peer="b") == 0


async def test_an_unreachable_peer_counts_a_handshake_failure_and_a_call_never_sent() -> None:
    cm, _ = fresh()
    async with linked(FakeHost(), client_metrics=cm) as (server, fwd, b):
        await server.close()
        with pytest.raises(Unreachable):
            await call(fwd, b, "x")
        assert value(cm, "roost_link_connected", peer="b") == 0
        assert value(cm, "roost_link_calls_in_flight", peer="b") == 0
    assert value(cm, CALLS, peer="b", kind="call", outcome="unreachable") == 1
    assert value(cm, "roost_link_handshake_failures_total", peer="b", reason="unreachable") == 1
    assert value(cm, "roost_link_handshake_failures_total", peer="b", reason="denied") == 0
    assert value(cm, "roost_link_connections_opened_total", peer="b") == 0
    assert value(cm, "roost_link_roundtrip_seconds_count") == 0


async def test_a_connection_cut_mid_call_counts_lost_then_the_reconnect() -> None:
    cm, _ = fresh()
    host = FakeHost(gates={"x": asyncio.Event()})
    async with linked(host, client_metrics=cm) as (server, fwd, b):
        await call(fwd, b, "first")
        pending = asyncio.create_task(call(fwd, b, "x"))
        await until(lambda: len(host.calls) == 2)
        server.abandon()  # a killed peer: the connection drops with the call in flight
        with pytest.raises(Timeout):
            await pending
        assert value(cm, "roost_link_connected", peer="b") == 0
        await call(fwd, b, "after")
        assert value(cm, "roost_link_connected", peer="b") == 1
    assert value(cm, CALLS, peer="b", kind="call", outcome="lost") == 1
    assert value(cm, CALLS, peer="b", kind="call", outcome="ok") == 2
    assert value(cm, "roost_link_connections_opened_total", peer="b") == 2


async def test_a_reply_that_never_comes_counts_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_mod, "REPLY_GRACE", 0.05)
    cm, _ = fresh()
    host = FakeHost(gates={"x": asyncio.Event()})  # never set
    async with linked(host, client_metrics=cm) as (_, fwd, b):
        with pytest.raises(Timeout):
            await call(fwd, b, "x", timeout=0.1)
    assert value(cm, CALLS, peer="b", kind="call", outcome="timeout") == 1
    assert value(cm, "roost_link_roundtrip_seconds_count") == 0


async def test_a_wrong_secret_is_denied_on_the_client_and_refused_auth_on_the_server() -> None:
    cm, sm = fresh()
    async with linked(FakeHost(), client_secret="another", client_metrics=cm,
                      server_metrics=sm) as (_, fwd, b):  # fmt: skip
        with pytest.raises(Unavailable):
            await call(fwd, b, "x")
    assert value(cm, "roost_link_handshake_failures_total", peer="b", reason="denied") == 1
    assert value(cm, "roost_link_handshake_failures_total", peer="b", reason="unreachable") == 0
    assert value(cm, CALLS, peer="b", kind="call", outcome="unreachable") == 1  # not sent
    assert value(cm, "roost_link_connections_opened_total", peer="b") == 0
    assert value(sm, "roost_link_connections_accepted_total") == 1
    assert refused(sm) == {r: 1.0 if r == "auth" else 0.0 for r in REFUSALS}
    assert value(sm, "roost_link_frames_served_total", kind="call") == 0


async def test_a_hello_for_another_node_is_refused_as_wrong_node() -> None:
    cm, sm = fresh()
    async with linked(FakeHost(), server_id="c", client_metrics=cm,
                      server_metrics=sm) as (_, fwd, b):  # fmt: skip
        with pytest.raises(Unreachable):
            await call(fwd, b, "x")
    assert value(cm, "roost_link_handshake_failures_total", peer="b", reason="unreachable") == 1
    assert refused(sm) == {r: 1.0 if r == "wrong_node" else 0.0 for r in REFUSALS}


def _other_version() -> bytes:
    hello = f.FrameReader(1 << 20)
    [frame] = hello.feed(_hello())
    return f.encode(f.HELLO, 0, {**frame.header, "v": f.VERSION + 1})


_REASONS: dict[str, tuple[Callable[[], bytes], str]] = {
    # bytes that are not frames read as an impossible length: garbage, not an oversized frame
    "garbage": (_BAD["garbage"], "frame"),
    "call before hello": (_BAD["call before hello"], "frame"),
    "oversized": (_BAD["oversized"], "oversized"),  # a signed peer with a larger --max-body
    "server frame from a client": (_BAD["server frame from a client"], "frame"),
    "another version": (_other_version, "version"),
    # refused at its HELLO, then bytes that do not parse: one connection, counted once
    "refused, then garbage": (lambda: _hello("someone-else") + b"GET / HTTP/1.1\r\n", "wrong_node"),
}


@pytest.mark.parametrize("case", list(_REASONS))
async def test_bad_frames_are_counted_by_reason_once_per_connection(case: str) -> None:
    make, reason = _REASONS[case]
    _, sm = fresh()
    async with linked(FakeHost(), server_metrics=sm) as (server, _, _b):
        reader, writer = await _raw(server)
        writer.write(make() + _call_frame(9) + b"more garbage after it")
        await asyncio.wait_for(reader.read(), 5.0)  # EOF: the server closed it
        writer.close()
    assert refused(sm) == {r: 1.0 if r == reason else 0.0 for r in REFUSALS}
    assert value(sm, "roost_link_connections_accepted_total") == 1
    assert value(sm, "roost_link_frames_served_total", kind="call") == 0


# --- the links follow the membership view ------------------------------------------------------


@contextlib.asynccontextmanager
async def servers(*ids: str) -> AsyncIterator[dict[str, tuple[LinkServer, FakeHost, Member]]]:
    key = derive_key(SECRET, "internal-http")
    out = {}
    for node_id in ids:
        host = FakeHost()
        server = LinkServer(host, node_id, Verifier(key), bind("127.0.0.1", 0), max_body=4096)
        await server.start()
        member = Member(node_id, "127.0.0.1:1", "", MemberStatus.ACTIVE,
                        tags={LINK_TAG: f"127.0.0.1:{server.port}"})  # fmt: skip
        out[node_id] = (server, host, member)
    try:
        yield out
    finally:
        for server, _, _ in out.values():
            await server.close()


def forwarder(metrics: Metrics, clock: Callable[[], float] | None = None) -> LinkForwarder:
    key = derive_key(SECRET, "internal-http")
    if clock is None:
        return LinkForwarder("a", key, HttpForwarder(key), metrics=metrics)
    return LinkForwarder("a", key, HttpForwarder(key), metrics=metrics, clock=clock)


async def test_a_departed_members_link_is_closed_and_its_gauges_go_the_others_untouched() -> None:
    cm = Metrics(process=False)
    fwd = forwarder(cm)
    async with servers("b", "c") as net:
        (sb, hb, b), (sc, _, c) = net["b"], net["c"]
        try:
            await call(fwd, b, "x")
            await call(fwd, c, "y")
            hb.gates["slow"] = asyncio.Event()
            pending = asyncio.create_task(call(fwd, b, "slow"))
            await until(lambda: len(hb.calls) == 2)
            assert peers(cm, "roost_link_connected") == {"b", "c"}

            fwd.retain(["a", "c"])  # b left the view

            with pytest.raises(Timeout, match="the member is no longer live"):
                await pending  # sent, then cut: outcome unknown, as for any lost connection
            await until(lambda: not sb.conns)  # b's end saw its connection close
            assert peers(cm, "roost_link_connected") == {"c"}
            assert peers(cm, "roost_link_calls_in_flight") == {"c"}
            assert len(sc.conns) == 1
            assert await call(fwd, c, "z") == {"actor": "z", "got": None}
            assert value(cm, "roost_link_connections_opened_total", peer="c") == 1  # same one
            # b's counters stay a while: their last counts (the lost call) reach a scrape
            assert value(cm, CALLS, peer="b", kind="call", outcome="lost") == 1

            # b back in the view: its next call dials a fresh link
            assert await call(fwd, b, "again") == {"actor": "again", "got": None}
            assert value(cm, "roost_link_connections_opened_total", peer="b") == 2
            assert value(cm, "roost_link_connected", peer="b") == 1
        finally:
            await fwd.close()


async def test_a_departed_members_counters_go_after_forget_after(clock: FakeClock) -> None:
    cm = Metrics(process=False)
    fwd = forwarder(cm, clock)
    nothing_listens = f"127.0.0.1:{free_port()}"
    gone = Member("b", "127.0.0.1:1", "", MemberStatus.ACTIVE, tags={LINK_TAG: nothing_listens})
    families = (
        CALLS,
        "roost_link_connections_opened_total",
        "roost_link_handshake_failures_total",
        "roost_link_connected",
        "roost_link_calls_in_flight",
    )
    try:
        with pytest.raises(Unreachable):
            await call(fwd, gone, "x")
        assert all(peers(cm, name) == {"b"} for name in families)
        fwd.retain([])
        assert peers(cm, "roost_link_connected") == set()
        clock.advance(FORGET_AFTER - 1)
        fwd.retain([])
        assert peers(cm, CALLS) == {"b"}
        clock.advance(1)
        fwd.retain([])
        assert all(peers(cm, name) == set() for name in families)
    finally:
        await fwd.close()


async def test_a_member_back_before_forget_after_keeps_its_counters(clock: FakeClock) -> None:
    cm = Metrics(process=False)
    fwd = forwarder(cm, clock)
    b = Member("b", "127.0.0.1:1", "", MemberStatus.ACTIVE,
               tags={LINK_TAG: f"127.0.0.1:{free_port()}"})  # fmt: skip
    try:
        with pytest.raises(Unreachable):
            await call(fwd, b, "x")
        fwd.retain([])
        clock.advance(FORGET_AFTER / 2)
        with pytest.raises(Unreachable):
            await call(fwd, b, "x")  # back (a new link), and unreachable again
        clock.advance(FORGET_AFTER)
        fwd.retain(["b"])
        assert value(cm, CALLS, peer="b", kind="call", outcome="unreachable") == 2
    finally:
        await fwd.close()
