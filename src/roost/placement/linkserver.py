"""The peer link's server side: accepts peers' connections and runs the calls they carry.

A connection must open with a HELLO signed with the cluster secret (any of the old secrets during
a rotation); anything else, a bad signature, an oversized or malformed frame closes it, with a log
line, and nothing in it is applied. Each CALL then runs as its own task through `LinkHost.invoke`
with exactly the routing, admission and deadline of the internal HTTP route, and its REPLY goes
back on the same connection, in whatever order the calls finish. A connection that is lost
cancels the calls still running on it, as the HTTP server cancels a handler whose client left.

Counted in the node's `Metrics`: connections accepted, connections refused or cut by reason
(`LINK_REFUSALS`), and the frames served by kind.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as _ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import orjson

from roost.errors import BadRequest, ConfigError, Internal, RoostError, Unauthorized
from roost.metrics import Metrics
from roost.payload import RawPayload, wire_bytes
from roost.placement import frames as f
from roost.placement.auth import Verifier
from roost.placement.router import forwarded_bounds
from roost.requestctx import RequestInfo, accept_id, current
from roost.sdk.context import ActorId
from roost.sdk.workflow import Broadcast

log = logging.getLogger("roost.link")

HELLO_WAIT = 10.0  # s a new connection has to authenticate
IDLE_CLOSE = 15.0  # s of silence (a client pings every second) before a connection is dropped
HEADER_ROOM = 64 * 1024  # a frame may be this much larger than the largest body
# Replies are not bounded by --max-body (an actor's state can be larger); this only keeps a
# broken peer from making the caller buffer gigabytes. A larger reply is a 500 that says so.
MAX_REPLY = 256 * 1024 * 1024


def hello_path(node_id: str) -> str:
    """What a HELLO's signature covers besides the caller's id: the node it is meant for, so a
    HELLO captured on the way to one node is refused by every other."""
    return f"/link/v{f.VERSION}/{node_id}"


class LinkHost(Protocol):
    """What the link needs from its node: run a call as a forwarded one, deliver a broadcast."""

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
    ) -> Any: ...

    async def deliver_broadcast(
        self,
        system: str,
        step: Broadcast,
        metadata: Mapping[str, str] | None,
        caller: ActorId | None,
        bid: str,
    ) -> int: ...


def bind(host: str, port: int) -> socket.socket:
    """The link's listening socket, bound now so that its port can be advertised before start."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise ConfigError(f"cannot listen on --link {host}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


class LinkServer:
    def __init__(
        self,
        host: LinkHost,
        node_id: str,
        verifier: Verifier,
        sock: socket.socket,
        *,
        max_body: int,
        ssl: _ssl.SSLContext | None = None,
        mutual: bool = False,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        """`mutual`: refuse a TLS peer without a client certificate (`--tls-ca` is set).
        `metrics`: the node's (a private set when none is given)."""
        self.host = host
        self.node_id = node_id
        self.verifier = verifier
        self.max_frame = max_body + HEADER_ROOM
        self.ssl = ssl
        self.mutual = mutual
        self.clock = clock
        self.metrics = Metrics(process=False) if metrics is None else metrics
        self._sock: socket.socket | None = sock
        self._server: asyncio.Server | None = None
        self.conns: set[_ServerConn] = set()
        self.port: int = sock.getsockname()[1]

    async def start(self) -> None:
        if self._sock is None:
            raise ConfigError("the peer link was closed before it started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ServerConn(self), sock=self._sock, ssl=self.ssl, backlog=1024
        )

    def stop_listening(self) -> None:
        """Take no new connections (a draining node); the calls on open ones finish."""
        if self._server is not None:
            self._server.close()
        elif self._sock is not None:
            self._sock.close()
        self._sock = None

    def abandon(self) -> None:
        """Cancel every call still running (a forced stop): their callers see the link close."""
        for conn in list(self.conns):
            conn.close("node stopping")

    async def close(self) -> None:
        self.stop_listening()
        self.abandon()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class _ServerConn(asyncio.Protocol):
    """One peer's connection to this node."""

    def __init__(self, server: LinkServer) -> None:
        self.server = server
        self.reader = f.FrameReader(server.max_frame)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.peer_id: str | None = None  # set once its HELLO is verified
        self.tasks: set[asyncio.Task[None]] = set()
        self.out: list[bytes] = []
        self.loop = asyncio.get_running_loop()
        self.last_rx = self.last_check = self.loop.time()
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.peer = str(transport.get_extra_info("peername"))
        self.server.conns.add(self)
        Metrics.bump(self.server.metrics.link_accepted, ())
        if self.server.mutual and not transport.get_extra_info("peercert"):
            self.refuse("a client certificate signed by --tls-ca is required", "auth", auth=True)
            return
        self.timer = self.loop.call_later(HELLO_WAIT, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.conns.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        for task in list(self.tasks):
            task.cancel()  # the caller is gone: as the HTTP server does with its handlers

    def close(self, why: str) -> None:
        if not self.closed and self.transport is not None:
            log.debug("peer link from %s closed: %s", self.peer_id or self.peer, why)
            self.closed = True
            self.transport.abort()

    def _check(self) -> None:
        now = self.loop.time()
        if now - self.last_check > IDLE_CLOSE:  # we were stalled ourselves: not the peer's fault
            self.last_rx = now
        self.last_check = now
        idle = now - self.last_rx
        if self.peer_id is None:
            log.warning("peer link from %s: no HELLO within %.0fs; closed", self.peer, HELLO_WAIT)
            self._count("no_hello")
            self.close("no hello")
        elif idle > IDLE_CLOSE:
            log.warning("peer link from %s silent for %.0fs; closed", self.peer_id, idle)
            self._count("silent")
            self.close("silent")
        else:
            self.timer = self.loop.call_later(IDLE_CLOSE / 3, self._check)

    def data_received(self, data: bytes) -> None:
        self.last_rx = self.loop.time()
        try:
            for frame in self.reader.feed(data):
                if self.closed:
                    return
                self._dispatch(frame)
        except f.FrameError as exc:
            if self.closed:  # refused already, with its reason: one connection, one count
                return
            log.warning("peer link from %s: %s; connection closed", self.peer_id or self.peer, exc)
            self._count(self._why(exc))
            self.close(str(exc))

    def _why(self, exc: f.FrameError) -> str:
        """The refusal reason of a frame error. Oversized only from an authenticated peer (its
        --max-body is larger than ours): before HELLO a length over the limit is bytes that are
        not frames at all (a HELLO is small)."""
        if isinstance(exc, _WrongVersion):
            return "version"
        if isinstance(exc, f.FrameTooLarge) and self.peer_id is not None:
            return "oversized"
        return "frame"

    def _count(self, reason: str) -> None:
        Metrics.bump(self.server.metrics.link_refused, (reason,))

    def _dispatch(self, frame: f.Frame) -> None:
        kind = frame.kind
        if self.peer_id is None:
            if kind != f.HELLO:
                raise f.FrameError(f"frame kind {kind} before HELLO")
            self._hello(frame.header)
            return
        served = self.server.metrics.link_served
        if kind == f.CALL:
            self._spawn(self._call(frame.call, frame.header, frame.body))
            served[_CALL] += 1  # keys made at start: see Metrics.link_served
        elif kind == f.BROADCAST:
            self._spawn(self._broadcast(frame.call, frame.header, frame.body))
            served[_BROADCAST] += 1
        elif kind == f.PING:
            self.send(f.encode(f.PONG, frame.call, None))
            served[_PING] += 1
        else:
            raise f.FrameError(f"unexpected frame kind {kind} from a client")

    def _hello(self, header: Any) -> None:
        s = self.server
        try:
            if not isinstance(header, dict):
                raise f.FrameError("a HELLO that is not a JSON object")
            if header.get("v") != f.VERSION:
                raise _WrongVersion(f"not a version {f.VERSION} HELLO: {header.get('v')!r}")
            peer, to, proof = str(header["node"]), str(header["to"]), header.get("proof")
        except KeyError as exc:
            raise f.FrameError(f"HELLO without {exc}") from None
        if to != s.node_id:  # the address now belongs to another node (a restart elsewhere)
            self.refuse(f"this is node {s.node_id}, not {to}", "wrong_node", auth=False)
            return
        try:
            s.verifier.verify(
                proof if isinstance(proof, str) else None,
                "LINK",
                hello_path(s.node_id),
                peer.encode(),
                s.clock(),
            )
        except Unauthorized as exc:
            why = exc.message.replace("internal route", "peer link HELLO")
            self.refuse(why, "auth", auth=True)
            return
        self.peer_id = peer
        self.send(f.encode(f.WELCOME, 0, {"v": f.VERSION, "node": s.node_id}))

    def refuse(self, reason: str, counted: str, *, auth: bool) -> None:
        """Tell the peer why (it reports it), then close. Nothing it sent is applied. `counted`:
        the reason label of roost_link_connections_refused."""
        log.warning("peer link from %s refused: %s", self.peer, reason)
        self._count(counted)
        assert self.transport is not None
        self._flush()
        self.transport.write(f.encode(f.DENIED, 0, {"reason": reason, "auth": auth}))
        self.closed = True
        self.transport.close()

    def send(self, data: bytes) -> None:
        """Queue a frame; every frame queued in one loop iteration goes out in one write."""
        if self.closed:
            return
        if not self.out:
            self.loop.call_soon(self._flush)
        self.out.append(data)

    def _flush(self) -> None:
        if self.out and not self.closed and self.transport is not None:
            out, self.out = self.out, []
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _call(self, cid: int, h: Any, body: bytes) -> None:
        try:
            if not isinstance(h, list) or len(h) != f.CALL_FIELDS:
                raise BadRequest("malformed internal call: bad header")
            system, actor = _text(h[f.C_SYSTEM]), _text(h[f.C_ACTOR])
            current.set(RequestInfo(accept_id(h[f.C_REQUEST_ID]), system, actor))
            c, tname = h[f.C_CALLER], h[f.C_TYPE]
            hops, timeout = forwarded_bounds(h[f.C_HOPS], h[f.C_TIMEOUT_MS])
            reply = await self.server.host.invoke(
                actor,
                _text(h[f.C_ACTION]),
                RawPayload(body, tname) if body or tname else None,
                system=system,
                parent=h[f.C_PARENT],
                metadata=_metadata(h[f.C_METADATA]),
                caller=None if c is None else ActorId(c[0], c[1], c[2]),
                timeout=timeout,
                hops=hops,
                dedupe=h[f.C_DEDUPE],
            )
            try:
                data, rtype = wire_bytes(reply)
            except (TypeError, ValueError):
                raise Internal(
                    f"the action's reply is not JSON-serialisable: {type(reply).__name__}"
                ) from None
            if len(data) > MAX_REPLY:
                raise Internal(
                    f"the reply of {len(data)} bytes is larger than the peer link carries "
                    f"({MAX_REPLY} bytes)"
                )
            self.send(f.encode(f.REPLY, cid, [200, rtype], data))
        except RoostError as exc:
            self._error(cid, exc)
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            self._error(cid, BadRequest(f"malformed internal call: {exc}"))
        except Exception as exc:  # a bug: answer 500 rather than leave the caller waiting
            log.exception("peer link call from %s failed", self.peer_id)
            self._error(cid, Internal(f"{type(exc).__name__}: {exc}"))

    async def _broadcast(self, cid: int, h: Any, body: bytes) -> None:
        try:
            data = orjson.loads(body)
            caller = ActorId(*data["caller"]) if data.get("caller") else None
            step = Broadcast(str(data["channel"]), data.get("payload"), data.get("action"))
            n = await self.server.host.deliver_broadcast(
                _text(h[0]), step, data.get("metadata") or None, caller, str(data["id"])
            )
            self.send(f.encode(f.REPLY, cid, [200, None], orjson.dumps({"delivered": n})))
        except RoostError as exc:
            self._error(cid, exc)
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            self._error(cid, BadRequest(f"malformed broadcast: {exc}"))

    def _error(self, cid: int, exc: RoostError) -> None:
        if exc.status >= 500 and exc.status != 503:
            log.warning("peer link call from %s: %s", self.peer_id, exc.message)
        header = [exc.status, None, getattr(exc, "retry_after", None)]
        self.send(f.encode(f.REPLY, cid, header, orjson.dumps(exc.to_json())))


class _WrongVersion(f.FrameError):
    """A HELLO of another version of the link protocol."""


_CALL, _BROADCAST, _PING = (("call",), ("broadcast",), ("ping",))


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"malformed internal call: {type(value).__name__} where a name belongs")
    return value


def _metadata(value: Any) -> Mapping[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest("malformed internal call: metadata must map strings to strings")
    return value
