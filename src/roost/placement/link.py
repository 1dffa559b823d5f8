"""The peer link's client side: one persistent connection per peer, many calls in flight on it.

`LinkForwarder` is the router's `Forwarder`. It reaches a member at the address of its `link`
gossip tag (a member without one, an older version or `--link off`, is called over HTTP as
before), connects on first use and again after a connection is lost, and matches replies to calls
by call id, so replies may come back in any order. Frames queued in one loop iteration go out in
one write.

Outcomes keep the HTTP forwarder's meaning exactly: a call that could not be sent (no connection,
the handshake failed) raises `Unreachable` and may be retried; a call sent and then cut off (the
connection lost, no reply by its deadline) raises `Timeout` and never is, since the owner may have
applied it. A connection that hears nothing for `DEAD_AFTER` seconds (a partition: no reset
arrives) is closed, so the calls on it fail then rather than at their deadlines.

The links follow the membership view: `retain` (called by the router on every view) closes and
forgets the link to a member that left (a failed one keeps it). Everything is counted in the
node's `Metrics` (the `roost_link_*` client families), labelled by member id, never by call or
actor.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, cast
from urllib.parse import quote

import orjson

from roost.errors import PayloadTooLarge, Timeout, Unavailable, error_from_body
from roost.membership.base import Member
from roost.metrics import Metrics
from roost.payload import wire_bytes
from roost.placement import frames as f
from roost.placement.auth import sign
from roost.placement.forward import CONNECT_TIMEOUT, HttpForwarder
from roost.placement.linkserver import HEADER_ROOM, MAX_REPLY, hello_path
from roost.placement.router import Unreachable
from roost.requestctx import request_id as current_request_id
from roost.sdk.context import ActorId
from roost.sdk.state import encode_json, message_from

log = logging.getLogger("roost.link")

LINK_TAG = "link"  # gossip tag: host:port of a member's peer link
PING_EVERY = 1.0  # s between keep-alive pings on a connection
DEAD_AFTER = 4.0  # s without a frame from the peer before its connection counts as cut
REPLY_GRACE = 1.0  # s past a call's own deadline before the caller stops waiting (as over HTTP)
SWEPT_AFTER = 5.0  # s: a call that may wait longer is expired by its connection's tick
# s a departed member's counters are kept after its link is dropped: longer than any scrape
# interval, so that its last counts (the calls lost as it went) are scraped before they go
FORGET_AFTER = 300.0


class _Lost(Exception):
    """The connection closed (or was cut) while a call was outstanding."""


class _ClientConn(asyncio.Protocol):
    """One open connection to a peer: the calls in flight on it and its keep-alive."""

    def __init__(self, peer: str, max_frame: int, metrics: Metrics) -> None:
        self.peer = peer
        self.key = (peer,)
        self.sent = metrics.link_sent_bytes
        self.received = metrics.link_received_bytes
        self.loop = asyncio.get_running_loop()
        self.reader = f.FrameReader(max_frame)
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, asyncio.Future[tuple[Any, bytes]]] = {}
        # call id -> loop time after which its caller stops waiting; checked on each keep-alive
        # tick (a timer per call cost more than the rest of the call's framing)
        self.expires: dict[int, float] = {}
        self.welcomed: asyncio.Future[Any] = self.loop.create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self.out: list[bytes] = []
        self.last_rx = self.last_tick = self.loop.time()
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.why: str | None = None  # why we closed it ourselves (else the peer did)
        self._next = 0

    def next_id(self) -> int:
        self._next += 1
        return self._next

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.timer = self.loop.call_later(PING_EVERY, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable.set()  # wakes writers waiting on a full buffer: they see `closed`
        if self.timer is not None:
            self.timer.cancel()
        lost = _Lost(self.why or (str(exc) if exc else "closed by the peer"))
        if not self.welcomed.done():
            self.welcomed.set_exception(lost)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(lost)
        self.pending.clear()
        self.expires.clear()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def abort(self, why: str) -> None:
        if self.transport is not None and not self.closed:
            log.warning("peer link to %s: %s; connection closed", self.peer, why)
            self.why = why
            self.transport.abort()

    def _tick(self) -> None:
        now = self.loop.time()
        if now - self.last_tick > 2 * PING_EVERY:
            # this process was stalled (paused, swapping): what the peer sent may be unread in
            # the socket; judge the peer from the next interval, not from our own silence
            self.last_rx = now
        self.last_tick = now
        silent = now - self.last_rx
        if silent > DEAD_AFTER:
            self.abort(f"nothing heard for {silent:.1f}s")
            return
        if self.expires:
            for cid in [c for c, at in self.expires.items() if at <= now]:
                del self.expires[cid]
                fut = self.pending.pop(cid, None)
                if fut is not None and not fut.done():
                    fut.set_exception(TimeoutError())
        self.send(f.encode(f.PING, 0, None))
        self.timer = self.loop.call_later(PING_EVERY, self._tick)

    def data_received(self, data: bytes) -> None:
        self.last_rx = self.loop.time()
        Metrics.bump(self.received, self.key, len(data))
        try:
            for frame in self.reader.feed(data):
                self._dispatch(frame)
        except f.FrameError as exc:
            self.abort(str(exc))

    def _dispatch(self, frame: f.Frame) -> None:
        kind = frame.kind
        if kind == f.REPLY:
            fut = self.pending.pop(frame.call, None)
            if fut is not None and not fut.done():  # else: its caller gave up already
                fut.set_result((frame.header, frame.body))
        elif kind == f.PONG:
            pass
        elif kind == f.WELCOME and not self.welcomed.done():
            self.welcomed.set_result(frame.header)
        elif kind == f.DENIED and not self.welcomed.done():
            self.welcomed.set_exception(_Denied(frame.header))
        else:
            raise f.FrameError(f"unexpected frame kind {kind} from a server")

    def send(self, data: bytes) -> None:
        """Queue a frame; every frame queued in one loop iteration goes out in one write."""
        if not self.out:
            self.loop.call_soon(self._flush)
        self.out.append(data)

    def _flush(self) -> None:
        if self.out and not self.closed and self.transport is not None:
            out, self.out = self.out, []
            data = out[0] if len(out) == 1 else b"".join(out)
            self.transport.write(data)
            Metrics.bump(self.sent, self.key, len(data))


class _Denied(Exception):
    def __init__(self, header: Any) -> None:
        h = header if isinstance(header, dict) else {}
        super().__init__(str(h.get("reason", "refused")))
        self.auth = bool(h.get("auth", True))


class PeerLink:
    """The link to one member at one address; connects on demand, again after a loss."""

    def __init__(
        self,
        member_id: str,
        address: str,
        hello: Callable[[], dict[str, Any]],
        *,
        ssl: _ssl.SSLContext | None,
        max_frame: int,
        metrics: Metrics,
    ) -> None:
        self.member_id = member_id
        self.address = address
        self._hello = hello
        self._ssl = ssl
        self._max_frame = max_frame
        self._metrics = metrics
        self._conn: _ClientConn | None = None
        self._connecting: asyncio.Future[_ClientConn] | None = None
        self._closed = False  # for good: the forwarder dropped this link
        self.inflight = 0  # calls waiting for their outcome (kept by the forwarder)

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    async def request(
        self, kind: int, header: Any, body: bytes, timeout: float
    ) -> tuple[Any, bytes]:
        """Send one frame and wait for its reply. `Unreachable`: not sent. `_Lost` or
        `TimeoutError`: sent, outcome unknown."""
        conn = self._conn
        if conn is None or conn.closed:
            if self._closed:
                raise Unreachable(f"peer link to {self.member_id} closed (it left the view)")
            conn = await self._connected(timeout)
        while not conn.writable.is_set():
            await conn.writable.wait()  # the peer reads slower than we write: wait for room
        if conn.closed:
            raise Unreachable(f"peer link to {self.member_id} closed before the call was sent")
        loop = conn.loop
        cid = conn.next_id()
        fut: asyncio.Future[tuple[Any, bytes]] = loop.create_future()
        conn.pending[cid] = fut
        conn.send(f.encode(kind, cid, header, body))
        sent = loop.time()
        wait = timeout + REPLY_GRACE
        # A long wait is checked by the connection's tick (at most PING_EVERY late, past a grace
        # of its own); a short one, which that lateness would double, gets a timer
        handle = loop.call_later(wait, _expire, fut) if wait < SWEPT_AFTER else None
        if handle is None:
            conn.expires[cid] = sent + wait
        try:
            reply = await fut
        finally:
            if handle is None:
                conn.expires.pop(cid, None)
            else:
                handle.cancel()
            conn.pending.pop(cid, None)
        self._metrics.link_roundtrip.observe(loop.time() - sent)
        return reply

    async def _connected(self, timeout: float) -> _ClientConn:
        if self._connecting is None:  # one connection attempt, however many calls wait on it
            self._connecting = asyncio.ensure_future(self._connect(timeout))
            self._connecting.add_done_callback(self._connect_done)
        conn = await asyncio.shield(self._connecting)
        if self._closed:  # dropped while connecting: `_connect_done` closed the new connection
            raise Unreachable(f"peer link to {self.member_id} closed (it left the view)")
        return conn

    def _connect_done(self, fut: asyncio.Future[_ClientConn]) -> None:
        self._connecting = None
        if not fut.cancelled() and fut.exception() is None:
            self._conn = fut.result()
            if self._closed:
                self.close()

    async def _connect(self, timeout: float) -> _ClientConn:
        host, _, port = self.address.rpartition(":")
        host = host.strip("[]")
        loop = asyncio.get_running_loop()
        conn: _ClientConn | None = None
        try:
            async with asyncio.timeout(min(CONNECT_TIMEOUT, timeout + 0.5)):
                _, conn = await loop.create_connection(
                    lambda: _ClientConn(self.member_id, self._max_frame, self._metrics),
                    host,
                    int(port),
                    ssl=self._ssl,
                    server_hostname=host if self._ssl is not None else None,
                )
                conn.send(f.encode(f.HELLO, 0, self._hello()))
                await conn.welcomed
        except _Denied as exc:
            if conn is not None:
                conn.abort("refused")
            self._failed("denied" if exc.auth else "unreachable")
            if not exc.auth:
                raise Unreachable(f"{self.member_id} at {self.address}: {exc}") from None
            raise Unavailable(
                f"{self.member_id} refused this node's cluster credentials on the peer link "
                f"({exc}); nothing ran (do all nodes share ROOST_CLUSTER_SECRET, or accept it "
                "in ROOST_CLUSTER_OLD_SECRETS?)",
                retry_after=1.0,
            ) from None
        except (OSError, TimeoutError, ValueError, _Lost) as exc:
            if conn is not None:
                conn.abort("handshake failed")
            self._failed("unreachable")
            why = str(exc) or type(exc).__name__
            raise Unreachable(
                f"cannot connect to {self.member_id} at {self.address} (peer link): {why}"
            ) from exc
        Metrics.bump(self._metrics.link_connections, (self.member_id,))
        return conn

    def _failed(self, reason: str) -> None:
        Metrics.bump(self._metrics.link_handshake_failures, (self.member_id, reason))

    def close(self, why: str = "closed by this node") -> None:
        """Close the connection (calls on it fail, outcome unknown, saying `why`); the link is
        not used again (a call that reaches it is `Unreachable`)."""
        self._closed = True
        conn = self._conn
        if conn is not None and conn.transport is not None and not conn.closed:
            conn.why = why
            conn.transport.abort()
        self._conn = None


def _expire(fut: asyncio.Future[tuple[Any, bytes]]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class LinkForwarder:
    """The `Forwarder` over peer links, with the HTTP forwarder for peers without one."""

    def __init__(
        self,
        node_id: str,
        key: bytes,
        http: HttpForwarder,
        *,
        ssl: _ssl.SSLContext | None = None,
        max_body: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        """`metrics`: the node's (a private set when none is given); registers the link gauges."""
        self.node_id = node_id
        self.http = http
        self._key = key
        self._ssl = ssl
        self._max_body = max_body
        self._max_frame = max(max_body, MAX_REPLY) + HEADER_ROOM  # what we read: replies
        self._clock = clock
        self._links: dict[str, PeerLink] = {}
        self._departed: dict[str, float] = {}  # member id -> when its link was dropped
        self._metrics = m = Metrics(process=False) if metrics is None else metrics
        m.gauge("roost_link_connected", self._connected_gauge)
        m.gauge("roost_link_calls_in_flight", self._inflight_gauge)

    def _link(self, member: Member) -> PeerLink | None:
        address = member.tags.get(LINK_TAG)
        if not address:
            return None
        link = self._links.get(member.id)
        if link is None or link.address != address:  # first use, or restarted elsewhere
            if link is not None:
                link.close("the member restarted at another address")
            link = PeerLink(
                member.id,
                address,
                lambda: self._hello(member.id),
                ssl=self._ssl,
                max_frame=self._max_frame,
                metrics=self._metrics,
            )
            self._links[member.id] = link
            self._departed.pop(member.id, None)
            m = self._metrics
            # from 0, so that an alert on their increase fires on the first failure
            m.link_connections.setdefault((member.id,), 0)
            for reason in ("unreachable", "denied"):
                m.link_handshake_failures.setdefault((member.id, reason), 0)
        return link

    def retain(self, member_ids: Collection[str]) -> None:
        """Close and forget the link to every member not in `member_ids` (it left the view, or
        left the cluster): a member that comes back is dialled afresh on its next call. Its gauges
        go at once, its counters `FORGET_AFTER` seconds later."""
        keep = set(member_ids)
        now = self._clock()
        for peer in [p for p in self._links if p not in keep]:
            log.info("peer link to %s closed: no longer a live member", peer)
            self._links.pop(peer).close("the member is no longer live")
            self._departed[peer] = now
        for peer, since in list(self._departed.items()):
            if now - since >= FORGET_AFTER:
                del self._departed[peer]
                self._metrics.forget_peer(peer)

    def _connected_gauge(self) -> list[tuple[tuple[str, ...], float]]:
        return [((p,), 1.0 if link.connected else 0.0) for p, link in sorted(self._links.items())]

    def _inflight_gauge(self) -> list[tuple[tuple[str, ...], float]]:
        return [((p,), float(link.inflight)) for p, link in sorted(self._links.items())]

    def _hello(self, to: str) -> dict[str, Any]:
        me = self.node_id
        proof = sign(self._key, "LINK", hello_path(to), me.encode(), self._clock())
        return {"v": f.VERSION, "node": me, "to": to, "proof": proof}

    async def forward(
        self,
        member: Member,
        system: str,
        actor: str,
        action: str,
        payload: Any,
        *,
        parent: str | None,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        hops: int,
        timeout: float,
        dedupe: str | None = None,
        request_id: str | None = None,
    ) -> Any:
        link = self._link(member)
        if link is None:
            return await self.http.forward(
                member, system, actor, action, payload, parent=parent, metadata=metadata,
                caller=caller, hops=hops, timeout=timeout, dedupe=dedupe, request_id=request_id,
            )  # fmt: skip
        body, type_name = wire_bytes(payload)
        header = [
            system, actor, action, parent, hops, int(timeout * 1000),
            None if caller is None else [caller.name, caller.system, caller.parent],
            None if not metadata else dict(metadata), dedupe,
            request_id or current_request_id(), type_name,
        ]  # fmt: skip
        h, raw = await self._request(link, f.CALL, header, body, timeout, "call forwarded")
        return _reply(h, raw)

    async def broadcast(self, member: Member, system: str, body: Any, timeout: float) -> Any:
        """Deliver a broadcast (the internal broadcast route's JSON body) to `member`."""
        link = self._link(member)
        if link is None:
            path = f"/internal/v1/systems/{quote(system, safe='')}/broadcast"
            return await self.http.post_json(member, path, body, timeout)
        h, raw = await self._request(
            link, f.BROADCAST, [system], encode_json(body), timeout, "broadcast"
        )
        return _reply(h, raw)

    async def _request(
        self, link: PeerLink, kind: int, header: Any, body: bytes, timeout: float, what: str
    ) -> tuple[Any, bytes]:
        if len(body) > self._max_body:  # the peer would close the connection on it: refuse here
            raise PayloadTooLarge(
                f"{what} to {link.member_id}: payload of {len(body)} bytes exceeds the limit of "
                f"{self._max_body} bytes"
            )
        outcome = None  # not counted: cancelled by the caller, or a bug
        link.inflight += 1
        try:
            h, raw = await link.request(kind, header, body, timeout)
            outcome = "ok" if h[0] == 200 else "error"
            return h, raw
        except Unavailable:  # Unreachable, or our credentials refused: not sent
            outcome = "unreachable"
            raise
        except _Lost as exc:
            outcome = "lost"
            raise Timeout(
                f"{what} to {link.member_id} failed after it was sent (peer link lost: {exc}); "
                "its outcome is unknown"
            ) from None
        except TimeoutError:
            outcome = "timeout"
            raise Timeout(
                f"{what} to {link.member_id} got no reply within {timeout + REPLY_GRACE:.3g}s; "
                "its outcome is unknown"
            ) from None
        finally:
            link.inflight -= 1
            if outcome is not None:
                what_kind = "call" if kind == f.CALL else "broadcast"
                Metrics.bump(self._metrics.link_calls, (link.member_id, what_kind, outcome))

    async def get_json(self, member: Member, path: str, timeout: float) -> Any:
        return await self.http.get_json(member, path, timeout)

    async def post_json(self, member: Member, path: str, body: Any, timeout: float) -> Any:
        return await self.http.post_json(member, path, body, timeout)

    async def close(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()
        await self.http.close()


def _reply(header: Any, raw: bytes) -> Any:
    status, type_name = header[0], header[1]
    if status == 200:
        if type_name is not None:  # a protobuf reply keeps its type across nodes
            return message_from(type_name, raw)
        return orjson.loads(raw) if raw else None
    err = error_from_body(status, raw)
    if len(header) > 2 and header[2] is not None and hasattr(err, "retry_after"):
        err.retry_after = float(header[2])
    raise err
