"""`/healthz` and `/readyz` on a listener of their own (`--probe-http`), answered by a thread.

A flood on the API port queues work on the node's event loop; a probe answered there waits in
that queue and a kubelet may restart a node that is merely busy. Here a thread with a blocking
socket answers from two facts the loop publishes (`ProbeState`): when it last ticked (liveness: a
loop stalled for `STALL_AFTER` s is not live) and the result of its last readiness check (the
statestore ping included), refreshed every `CHECK_EVERY` s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable

import orjson

from roost.errors import RoostError

log = logging.getLogger("roost.probes")

CHECK_EVERY = 1.0  # s between the loop's ticks and readiness checks
STALL_AFTER = 10.0  # s without a tick: the loop is stuck, the node is not live
READ_TIMEOUT = 2.0  # s a probe connection may take to send its request


class ProbeState:
    """What the loop last saw. Written by the loop, read by the probe thread: each field is
    one attribute store, so a read sees the old or the new value, never a mix."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.beat = time.monotonic()
        self.ready = False
        self.why = "node is starting"

    def health(self, now: float) -> tuple[int, dict[str, object]]:
        stalled = now - self.beat
        if stalled > STALL_AFTER:
            return _unavailable(f"the event loop has not run for {stalled:.0f}s")
        return 200, {"status": "ok", "node": self.node_id}

    def readiness(self, now: float) -> tuple[int, dict[str, object]]:
        status, body = self.health(now)
        if status != 200:
            return status, body
        if not self.ready:
            return _unavailable(self.why)
        return 200, {"status": "ready", "node": self.node_id}


def _unavailable(message: str) -> tuple[int, dict[str, object]]:
    return 503, {"error": {"code": "unavailable", "message": message}}


async def refresh(state: ProbeState, check_ready: Callable[[], Awaitable[None]]) -> None:
    """One tick and readiness check, published to the probe thread."""
    state.beat = time.monotonic()
    try:
        await check_ready()
    except RoostError as exc:
        state.ready, state.why = False, exc.message
    else:
        state.ready, state.why = True, ""
    state.beat = time.monotonic()


async def publish(state: ProbeState, check_ready: Callable[[], Awaitable[None]]) -> None:
    """The loop's side: `refresh` every CHECK_EVERY s, until cancelled."""
    while True:
        await refresh(state, check_ready)
        await asyncio.sleep(CHECK_EVERY)


class ProbeServer:
    """A listener and the thread that answers it, one probe connection at a time."""

    def __init__(self, state: ProbeState, host: str, port: int) -> None:
        self.state = state
        self.sock = socket.create_server((host, port), backlog=64, reuse_port=False)
        self.port = int(self.sock.getsockname()[1])
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="roost-probes", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept
        self.sock.close()
        self._thread.join(timeout=2.0)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                if self._stop:
                    return
                continue
            with conn, contextlib.suppress(OSError):  # a prober that went away is told nothing
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(READ_TIMEOUT)
        head = conn.recv(4096)
        line = head.split(b"\r\n", 1)[0].split(b" ")
        body: dict[str, object]
        if len(line) != 3 or not line[2].startswith(b"HTTP/1."):
            status, body = 400, {"error": {"code": "bad_request", "message": "not HTTP/1.x"}}
        elif line[0] not in (b"GET", b"HEAD"):
            status, body = 405, {"error": {"code": "method_not_allowed", "message": "GET only"}}
        else:
            path = line[1].split(b"?", 1)[0]
            now = time.monotonic()
            if path == b"/healthz":
                status, body = self.state.health(now)
            elif path == b"/readyz":
                status, body = self.state.readiness(now)
            else:
                msg = "this port serves /healthz and /readyz"
                status, body = 404, {"error": {"code": "not_found", "message": msg}}
        data = orjson.dumps(body)
        reply = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        conn.sendall(reply if line[0] == b"HEAD" else reply + data)
