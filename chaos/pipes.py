"""Byte pipes the harness puts between processes: a statestore relay it can cut off, and a
delay proxy for node-to-node HTTP (this kernel has no netem).

`Relay`: nodes reach PostgreSQL through a Unix socket the harness listens on. `block()` freezes
every open connection (bytes stop flowing both ways, as when a network path dies) and holds new
ones unanswered; `unblock()` cuts everything that lived through the outage and lets new
connections through. A commit sent just before the freeze is applied but never confirmed: the
in-doubt case Roost has to survive.

`DelayProxy`: listens on a socket the caller bound (inside a node's namespace) and forwards to
the node's HTTP port, delaying every chunk by `delay` seconds in both directions, order kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time


async def _close(w: asyncio.StreamWriter, abort: bool = False) -> None:
    if abort:
        w.transport.abort()
        return
    with contextlib.suppress(Exception):
        w.close()
        await w.wait_closed()


class Relay:
    """Unix socket `listen` -> Unix socket `upstream`, with an on/off switch."""

    def __init__(self, listen: str, upstream: str) -> None:
        self.listen = listen
        self.upstream = upstream
        self._open = asyncio.Event()
        self._open.set()
        self._conns: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    async def start(self) -> None:
        os.makedirs(os.path.dirname(self.listen), exist_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=self.listen)

    @property
    def blocked(self) -> bool:
        return not self._open.is_set()

    def block(self) -> None:
        self._open.clear()

    def unblock(self) -> None:
        for w in list(self._conns):
            w.transport.abort()
        self._conns.clear()
        self._open.set()

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._conns.add(w)
        try:
            await self._open.wait()
            if w not in self._conns:  # cut while it waited
                return
            ur, uw = await asyncio.open_unix_connection(self.upstream)
        except OSError:
            await _close(w, abort=True)
            return
        self._conns.add(uw)
        await asyncio.gather(self._pump(r, uw), self._pump(ur, w), return_exceptions=True)
        self._conns.discard(w)
        self._conns.discard(uw)
        await _close(w)
        await _close(uw)

    async def _pump(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(65536):
            if not self._open.is_set():
                await self._open.wait()
                return  # this connection lived through an outage: it is cut
            w.write(data)
            await w.drain()
        with contextlib.suppress(OSError):
            w.write_eof()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.unblock()
        for w in list(self._conns):
            w.transport.abort()
        with contextlib.suppress(OSError):
            os.unlink(self.listen)


class DelayProxy:
    """TCP proxy that adds `delay` seconds to every chunk, both ways. `more`: further listening
    sockets and their upstreams under the same delay (a node's HTTP API and its peer link)."""

    def __init__(
        self,
        sock: socket.socket,
        upstream: tuple[str, int],
        *more: tuple[socket.socket, tuple[str, int]],
    ) -> None:
        self.listeners = [(sock, upstream), *more]
        self.delay = 0.0
        self._servers: list[asyncio.AbstractServer] = []
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        for sock, upstream in self.listeners:
            sock.setblocking(False)
            serve = functools.partial(self._serve, upstream)
            self._servers.append(await asyncio.start_server(serve, sock=sock))

    async def _serve(
        self, upstream: tuple[str, int], r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        try:
            ur, uw = await asyncio.open_connection(*upstream)
        except OSError:
            # Refuse as closely as a proxy can: reset before any byte is answered.
            await _close(w, abort=True)
            return
        self._conns |= {w, uw}
        await asyncio.gather(self._pump(r, uw), self._pump(ur, w), return_exceptions=True)
        self._conns -= {w, uw}
        await _close(w)
        await _close(uw)

    async def _pump(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        q: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def writer() -> None:
            while True:
                due, data = await q.get()
                if not data:
                    with contextlib.suppress(OSError):
                        w.write_eof()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # the delay itself is the point here
                w.write(data)
                await w.drain()

        task = asyncio.ensure_future(writer())
        try:
            while data := await r.read(65536):
                q.put_nowait((time.monotonic() + self.delay, data))
            q.put_nowait((0.0, b""))
            await task
        finally:
            task.cancel()

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for w in list(self._conns):
            w.transport.abort()
