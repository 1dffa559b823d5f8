"""The peer link over real loopback sockets, against a fake `LinkHost`: calls in flight out of
order, errors passed on with their status, the bytes carried untouched, a refused secret, garbage
and truncated frames (closed, logged, nothing applied), a reply that never comes, a cut or silent
connection (outcome unknown, never `Unreachable`), and reconnecting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from roost.errors import (
    ConfigError,
    NotPlaced,
    Overloaded,
    PayloadTooLarge,
    RoostError,
    Timeout,
    Unavailable,
)
from roost.membership.base import Member, MemberStatus
from roost.metrics import Metrics
from roost.payload import RawPayload, decoded
from roost.placement import frames as f
from roost.placement import link as link_mod
from roost.placement.auth import Verifier, derive_key
from roost.placement.forward import HttpForwarder
from roost.placement.link import LINK_TAG, LinkForwarder
from roost.placement.linkserver import LinkServer, bind
from roost.placement.router import Unreachable
from roost.sdk.context import ActorId
from roost.sdk.workflow import Broadcast

SECRET = "link-test-secret"


@dataclass
class FakeHost:
    """Records every call; an actor named in `gates` waits for its event, one in `errors`
    raises. The reply echoes what arrived."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    errors: dict[str, RoostError] = field(default_factory=dict)
    broadcasts: list[tuple[str, Broadcast, str]] = field(default_factory=list)
    replies: dict[str, Any] = field(default_factory=dict)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str,
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        caller: ActorId | None = None,
        timeout: float | None = None,
        hops: int = 0,
        dedupe: str | None = None,
    ) -> Any:
        self.calls.append(
            {"actor": actor, "action": action, "payload": payload, "system": system,
             "parent": parent, "metadata": metadata, "caller": caller, "timeout": timeout,
             "hops": hops, "dedupe": dedupe}
        )  # fmt: skip
        self.started.set()
        gate = self.gates.get(actor)
        if gate is not None:
            await gate.wait()
        if actor in self.errors:
            raise self.errors[actor]
        if actor in self.replies:
            return self.replies[actor]
        return {"actor": actor, "got": decoded(payload)}

    async def deliver_broadcast(
        self,
        system: str,
        step: Broadcast,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        bid: str,
    ) -> int:
        self.broadcasts.append((system, step, bid))
        return 2


@contextlib.asynccontextmanager
async def linked(
    host: FakeHost,
    *,
    client_secret: str = SECRET,
    server_id: str = "b",
    max_body: int = 4096,
    client_metrics: Metrics | None = None,
    server_metrics: Metrics | None = None,
) -> AsyncIterator[tuple[LinkServer, LinkForwarder, Member]]:
    key = derive_key(SECRET, "internal-http")
    server = LinkServer(host, server_id, Verifier(key), bind("127.0.0.1", 0), max_body=max_body,
                        metrics=server_metrics)  # fmt: skip
    await server.start()
    ckey = derive_key(client_secret, "internal-http")
    fwd = LinkForwarder("a", ckey, HttpForwarder(ckey), max_body=max_body, metrics=client_metrics)
    member = Member("b", "127.0.0.1:1", "", MemberStatus.ACTIVE,
                    tags={LINK_TAG: f"127.0.0.1:{server.port}"})  # fmt: skip
    try:
        yield server, fwd, member
    finally:
        await fwd.close()
        await server.close()


async def call(fwd: LinkForwarder, member: Member, actor: str, payload: Any = None,
               timeout: float = 5.0, **kw: Any) -> Any:  # fmt: skip
    return await fwd.forward(
        member, "sys", actor, "add", payload, parent=kw.get("parent"), metadata=kw.get("metadata"),
        caller=kw.get("caller"), hops=kw.get("hops", 1), timeout=timeout, dedupe=kw.get("dedupe"),
    )  # fmt: skip


async def test_a_call_carries_every_routing_field_and_the_payload_bytes_untouched() -> None:
    host = FakeHost()
    async with linked(host) as (_, fwd, b):
        raw = b'{"value":  1,\n "z": [ ]}'  # spacing that no encoder would reproduce
        reply = await call(
            fwd, b, "x", RawPayload(raw), timeout=2.5, parent="tmpl", metadata={"k": "v"},
            caller=ActorId("me", "sys2", None), hops=2, dedupe="bid-1",
        )  # fmt: skip
    [c] = host.calls
    assert isinstance(c["payload"], RawPayload) and c["payload"].data == raw  # not re-encoded
    assert reply == {"actor": "x", "got": {"value": 1, "z": []}}
    assert (c["action"], c["system"], c["parent"], c["hops"], c["dedupe"]) == (
        "add", "sys", "tmpl", 2, "bid-1"
    )  # fmt: skip
    assert c["metadata"] == {"k": "v"} and c["caller"] == ActorId("me", "sys2", None)
    assert c["timeout"] == 2.5


async def test_many_calls_in_flight_on_one_connection_get_their_own_replies_out_of_order() -> None:
    host = FakeHost()
    names = [f"act{i}" for i in range(50)]
    host.gates = {n: asyncio.Event() for n in names}
    async with linked(host) as (server, fwd, b):
        tasks = [asyncio.create_task(call(fwd, b, n, {"i": i})) for i, n in enumerate(names)]
        while len(host.calls) < len(names):  # every call reached the host before any returned
            host.started.clear()
            await host.started.wait()
        assert len(server.conns) == 1  # all on one connection
        for n in reversed(names):  # answer in the reverse order
            host.gates[n].set()
            await asyncio.sleep(0)
        replies = await asyncio.gather(*tasks)
    assert replies == [{"actor": n, "got": {"i": i}} for i, n in enumerate(names)]


@pytest.mark.parametrize(
    "error",
    [
        Overloaded("busy", retry_after=3.0),
        NotPlaced("no node", retry_after=1.0),
        Unavailable("draining"),
        Timeout("slow turn"),
    ],
)
async def test_an_error_comes_back_as_the_same_error(error: RoostError) -> None:
    host = FakeHost(errors={"x": error})
    async with linked(host) as (_, fwd, b):
        with pytest.raises(type(error)) as got:
            await call(fwd, b, "x")
    assert got.value.status == error.status and got.value.message == error.message
    assert getattr(got.value, "retry_after", None) == getattr(error, "retry_after", None)


async def test_a_payload_that_does_not_decode_is_400_from_where_it_runs() -> None:
    async with linked(FakeHost()) as (_, fwd, b):
        with pytest.raises(RoostError, match="malformed JSON") as got:
            await call(fwd, b, "x", RawPayload(b"{nope"))
    assert got.value.status == 400


async def test_a_broadcast_is_delivered_over_the_link() -> None:
    host = FakeHost()
    async with linked(host) as (_, fwd, b):
        body = {"channel": "news", "payload": {"n": 1}, "action": None, "metadata": {},
                "id": "bid", "caller": None}  # fmt: skip
        assert await fwd.broadcast(b, "sys", body, 2.0) == {"delivered": 2}
    [(system, step, bid)] = host.broadcasts
    assert (system, step.channel, step.payload, bid) == ("sys", "news", {"n": 1}, "bid")


async def test_a_wrong_secret_is_refused_logged_and_nothing_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = FakeHost()
    caplog.set_level(logging.WARNING, "roost.link")
    async with linked(host, client_secret="another-secret") as (_, fwd, b):
        with pytest.raises(Unavailable, match="refused this node's cluster credentials") as got:
            await call(fwd, b, "x")
        assert not isinstance(got.value, Unreachable)  # our cluster's fault: 503, as over HTTP
    assert host.calls == []
    assert "refused: peer link HELLO: bad cluster signature" in caplog.text


async def test_a_hello_meant_for_another_node_is_unreachable_not_a_credentials_error() -> None:
    host = FakeHost()
    async with linked(host, server_id="someone-else") as (_, fwd, b):
        with pytest.raises(Unreachable, match="this is node someone-else, not b"):
            await call(fwd, b, "x")
    assert host.calls == []


async def _raw(server: LinkServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


def _hello(to: str = "b") -> bytes:
    fwd = LinkForwarder("a", derive_key(SECRET, "internal-http"), HttpForwarder(b""))
    return f.encode(f.HELLO, 0, fwd._hello(to))


def _call_frame(cid: int = 1) -> bytes:
    header = ["sys", "x", "add", None, 1, 5000, None, None, None, None, None]
    return f.encode(f.CALL, cid, header, b'{"v": 1}')


_BAD: dict[str, Callable[[], bytes]] = {  # built at run time: a HELLO is only good for 60 s
    "garbage": lambda: b"GET / HTTP/1.1\r\n\r\n",
    "call before hello": _call_frame,
    "oversized": lambda: _hello() + f.encode(f.CALL, 1, ["sys"], b"x" * 100_000),
    "server frame from a client": lambda: _hello() + f.encode(f.WELCOME, 0, {}),
}


@pytest.mark.parametrize(
    ("case", "logged"),
    [
        ("garbage", "exceeds the limit"),
        ("call before hello", "before HELLO"),
        ("oversized", "exceeds the limit"),
        ("server frame from a client", "unexpected frame kind"),
    ],
)
async def test_bad_frames_close_the_connection_log_it_and_apply_nothing(
    case: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = _BAD[case]()
    host = FakeHost()
    caplog.set_level(logging.WARNING, "roost.link")
    async with linked(host) as (server, _, _b):
        reader, writer = await _raw(server)
        writer.write(data + _call_frame(9))  # a valid call after the bad bytes is not run either
        rest = await asyncio.wait_for(reader.read(), 5.0)  # EOF: the server closed it
        writer.close()
    assert host.calls == []
    assert logged in caplog.text
    assert f.encode(f.REPLY, 9, [200, None])[:5] not in rest


async def test_a_frame_cut_off_by_a_closed_connection_is_not_applied() -> None:
    host = FakeHost()
    async with linked(host) as (server, _, _b):
        reader, writer = await _raw(server)
        data = _hello() + _call_frame()
        writer.write(data[:-3])
        await writer.drain()
        frames = f.FrameReader(1 << 20)
        welcome = [x for x in frames.feed(await reader.read(64)) if x.kind == f.WELCOME]
        assert welcome  # authenticated: only the truncation keeps the call from running
        writer.close()
        await writer.wait_closed()
        while server.conns:
            await asyncio.sleep(0.01)
    assert host.calls == []


async def test_a_reply_that_never_comes_is_a_timeout_with_unknown_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(link_mod, "REPLY_GRACE", 0.05)
    host = FakeHost(gates={"x": asyncio.Event()})  # never set
    async with linked(host) as (_, fwd, b):
        with pytest.raises(Timeout, match="outcome is unknown"):
            await call(fwd, b, "x", timeout=0.1)
        assert await call(fwd, b, "y") == {"actor": "y", "got": None}  # the link still works
    assert [c["actor"] for c in host.calls] == ["x", "y"]


async def test_a_long_wait_is_expired_by_the_connections_tick_and_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call that may wait longer than SWEPT_AFTER has no timer of its own: the connection's
    keep-alive tick expires it (here every 50 ms, with every wait counting as long)."""
    monkeypatch.setattr(link_mod, "REPLY_GRACE", 0.05)
    monkeypatch.setattr(link_mod, "SWEPT_AFTER", 0.0)
    monkeypatch.setattr(link_mod, "PING_EVERY", 0.05)
    host = FakeHost(gates={"x": asyncio.Event()})  # never set
    async with linked(host) as (_, fwd, b):
        with pytest.raises(Timeout, match="outcome is unknown"):
            await call(fwd, b, "x", timeout=0.1)
        conn = fwd._links["b"]._conn
        assert conn is not None and conn.expires == {} and conn.pending == {}
        assert await call(fwd, b, "y") == {"actor": "y", "got": None}  # the link still works
        assert conn.expires == {} and conn.pending == {}  # a reply clears its entry too
    assert [c["actor"] for c in host.calls] == ["x", "y"]


async def test_a_connection_cut_mid_call_is_unknown_outcome_then_the_link_reconnects() -> None:
    host = FakeHost(gates={"x": asyncio.Event()})
    async with linked(host) as (server, fwd, b):
        assert await call(fwd, b, "first") == {"actor": "first", "got": None}
        pending = asyncio.create_task(call(fwd, b, "x"))
        await host.started.wait()
        while len(host.calls) < 2:
            host.started.clear()
            await host.started.wait()
        server.abandon()  # the connection drops with the call in flight (a killed peer)
        with pytest.raises(Timeout, match="outcome is unknown"):
            await pending  # sent: never `Unreachable`, so never retried
        assert await call(fwd, b, "after") == {"actor": "after", "got": None}  # reconnected


async def test_a_peer_that_is_down_is_unreachable_and_nothing_was_sent() -> None:
    host = FakeHost()
    async with linked(host) as (server, fwd, b):
        port = server.port
        await server.close()
        with pytest.raises(Unreachable, match="cannot connect"):
            await call(fwd, b, "x")
        # the same id back on the same port: the next call reconnects by itself
        again = LinkServer(host, "b", Verifier(derive_key(SECRET, "internal-http")),
                           bind("127.0.0.1", port), max_body=4096)  # fmt: skip
        await again.start()
        try:
            assert await call(fwd, b, "x") == {"actor": "x", "got": None}
        finally:
            await again.close()


async def test_a_silent_connection_is_cut_and_its_calls_fail_as_unknown_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A partition sends no reset: a peer that answers the HELLO and then goes silent (no PONG,
    no reply) has its connection closed after DEAD_AFTER, well before the call's deadline."""
    monkeypatch.setattr(link_mod, "PING_EVERY", 0.05)
    monkeypatch.setattr(link_mod, "DEAD_AFTER", 0.3)
    welcome = f.encode(f.WELCOME, 0, {"v": f.VERSION, "node": "b"})

    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(welcome)
        await reader.read(1 << 20)  # then reads on, never answering

    srv = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    key = derive_key(SECRET, "internal-http")
    fwd = LinkForwarder("a", key, HttpForwarder(key))
    b = Member("b", "127.0.0.1:1", "", MemberStatus.ACTIVE, tags={LINK_TAG: f"127.0.0.1:{port}"})
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(Timeout, match=r"peer link lost: nothing heard for [\d.]+s"):
            await call(fwd, b, "x", timeout=30.0)
        assert loop.time() - t0 < 5.0
    finally:
        await fwd.close()
        srv.close()


async def test_a_member_without_a_link_tag_is_called_over_http() -> None:
    key = derive_key(SECRET, "internal-http")
    fwd = LinkForwarder("a", key, HttpForwarder(key))
    b = Member("b", "127.0.0.1:1", "", MemberStatus.ACTIVE)  # nothing listens on port 1
    try:
        with pytest.raises(Unreachable, match=r"at 127\.0\.0\.1:1: "):  # the HTTP forwarder's
            await call(fwd, b, "x")
    finally:
        await fwd.close()


def test_the_link_works_on_uvloop_as_nodes_run_it() -> None:
    """`roost node` runs on uvloop, whose transports are not `asyncio.Transport` subclasses.
    (uvloop is a dependency of roost: a missing one fails here, never skips.)"""
    import uvloop

    async def scenario() -> Any:
        async with linked(FakeHost()) as (_, fwd, b):
            return await call(fwd, b, "x", {"n": 1})

    assert uvloop.run(scenario()) == {"actor": "x", "got": {"n": 1}}


class _FakeTransport:
    def __init__(self) -> None:
        self.aborted = False
        self.written: list[bytes] = []

    def abort(self) -> None:
        self.aborted = True

    def write(self, data: bytes) -> None:
        self.written.append(data)


async def test_silence_counts_against_the_peer_only_while_this_process_was_running() -> None:
    conn = link_mod._ClientConn("b", 1 << 20, Metrics(process=False))
    transport = _FakeTransport()
    conn.transport = transport  # type: ignore[assignment]
    now = conn.loop.time()
    # this process was stalled for 10 s (SIGSTOP): the replies may sit unread in the socket
    conn.last_rx, conn.last_tick = now - 10, now - 10
    conn._tick()
    assert not transport.aborted and conn.out  # a ping, and another interval to hear back
    # ticking on time and nothing heard for longer than DEAD_AFTER: the connection is cut
    conn.last_rx, conn.last_tick = now - 10, now - link_mod.PING_EVERY
    conn._tick()
    assert transport.aborted
    if conn.timer is not None:
        conn.timer.cancel()


def test_bind_takes_ipv6_and_names_a_taken_port() -> None:
    if socket.has_ipv6:
        with contextlib.suppress(OSError):  # a host without ::1 configured
            sock = bind("::1", 0)
            assert sock.family == socket.AF_INET6
            sock.close()
    taken = bind("127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match=r"cannot listen on --link 127\.0\.0\.1:\d+"):
            bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


async def test_a_payload_over_the_limit_is_413_and_the_connection_carries_on() -> None:
    host = FakeHost()
    async with linked(host, max_body=4096) as (server, fwd, b):
        assert await call(fwd, b, "before") == {"actor": "before", "got": None}
        with pytest.raises(PayloadTooLarge):
            await call(fwd, b, "big", {"blob": "x" * 5000})
        assert await call(fwd, b, "after") == {"actor": "after", "got": None}
        assert len(server.conns) == 1  # the same connection: nothing oversized was sent
    assert [c["actor"] for c in host.calls] == ["before", "after"]


async def test_a_reply_larger_than_a_request_may_be_comes_back_whole() -> None:
    """Replies are bounded by MAX_REPLY, not by --max-body (an actor's state can be larger)."""
    host = FakeHost(replies={"state": {"blob": "y" * 200_000}})  # > max_body + HEADER_ROOM
    async with linked(host, max_body=4096) as (server, fwd, b):
        assert await call(fwd, b, "state") == {"blob": "y" * 200_000}
        assert await call(fwd, b, "x") == {"actor": "x", "got": None}
        assert len(server.conns) == 1


async def test_calls_made_in_one_loop_iteration_go_out_in_one_write() -> None:
    async with linked(FakeHost()) as (_, fwd, b):
        assert await call(fwd, b, "warm") == {"actor": "warm", "got": None}
        conn = fwd._links["b"]._conn
        assert conn is not None and conn.transport is not None
        writes: list[int] = []
        real = conn.transport.write

        def counting(data: bytes) -> None:
            writes.append(len(data))
            real(data)

        conn.transport.write = counting  # type: ignore[method-assign]
        replies = await asyncio.gather(*(call(fwd, b, f"x{i}") for i in range(40)))
        assert len(replies) == 40
        ping = len(f.encode(f.PING, 0, None))  # a keep-alive may fall in between: not ours
        assert len([w for w in writes if w != ping]) == 1  # 40 CALL frames, one write


@pytest.mark.parametrize(("hops", "timeout"), [(-1, 5.0), (0, 5.0), (99, 5.0), (1, 1e9)])
async def test_routing_fields_out_of_bounds_are_400_and_nothing_runs(
    hops: int, timeout: float
) -> None:
    """The link checks a call's hop count and deadline as the internal HTTP route does: only
    signed peers send them, but a bad value must be a 400, never a loop or an endless wait."""
    host = FakeHost()
    async with linked(host) as (_, fwd, b):
        with pytest.raises(RoostError, match="routing header") as got:
            await call(fwd, b, "x", hops=hops, timeout=timeout)
    assert got.value.status == 400 and host.calls == []
