"""A TCP forwarder a test controls: it can cut every connection, even in the middle of a
request, refuse new ones while the "database" is away, and come back on the same port."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `upstream` (host, port) or a Unix socket path."""

    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._budget: int | None = None
        self.cuts = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def cut_after(self, nbytes: int) -> None:
        """Let `nbytes` more bytes through towards the server, then cut everything."""
        self._budget = nbytes

    def cut(self) -> None:
        """Stop listening and reset every open connection at once."""
        self._budget = None
        self.cuts += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        self.cut()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await t

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if isinstance(self.upstream, str):
            return await asyncio.open_unix_connection(self.upstream)
        return await asyncio.open_connection(*self.upstream)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._open_upstream()
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        tasks = [
            asyncio.create_task(self._pump(reader, up_writer, towards_server=True)),
            asyncio.create_task(self._pump(up_reader, writer, towards_server=False)),
        ]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
                self._tasks.discard(t)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, towards_server: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(65536):
                if towards_server and self._budget is not None:
                    if len(data) > self._budget:
                        dst.write(data[: self._budget])
                        await dst.drain()
                        self.cut()
                        return
                    self._budget -= len(data)
                dst.write(data)
                await dst.drain()
