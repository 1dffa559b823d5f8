"""One Serf RPC connection: framing and demultiplexing (the transport under `SerfRPC`).

Every request is a header map ``{"Command", "Seq"}`` optionally followed by a body map; every
response is a header ``{"Seq", "Error"}`` optionally followed by a body (which commands have
one is in `protocol.COMMANDS_WITH_BODY`; some errors come as a bare header). Streams
(`stream`, `monitor`, `query`) keep sending header+record pairs under the Seq of the command
that opened them. One reader task, owned by the connection and ended by `close`, routes by Seq:
a one-shot request resolves its future, a stream record goes to its subscription's queue.

Concurrency: any number of coroutines on one event loop may send requests at once; a write
lock keeps each header+body together. The connection never reconnects: when it drops, every
pending request and open subscription fails with `SerfConnectionError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgpack

from roost.membership import protocol as p
from roost.membership.errors import SerfConnectionError, SerfError, SerfProtocolError

log = logging.getLogger("roost.membership.rpc")
T = TypeVar("T")
_END = object()
DEFAULT_TIMEOUT = 10.0  # a loopback agent answers in microseconds; 10 s means it is wedged
SLOW_TIMEOUT = 60.0  # join dials every address (TCP timeout 10 s each); key ops wait on a query


@dataclass(frozen=True, slots=True)
class Reply:
    error: str
    body: Any


@dataclass(slots=True)
class _Call:
    seq: int
    future: asyncio.Future[Reply]
    expects_body: bool
    error: str = ""


@dataclass(slots=True)
class _Stream:
    seq: int
    queue: asyncio.Queue[Any]
    decode: Callable[[object], Any]
    ends_on: Callable[[Any], bool] = field(default=lambda _item: False)


class Subscription(Generic[T]):
    """Records of one stream, in the order the agent sent them. Iterate with ``async for``.

    Ends normally when the stream does (a query's ``done``, or `stop()`); raises
    `SerfConnectionError` if the connection drops first. One consumer at a time.
    """

    def __init__(self, conn: RpcConnection, seq: int, queue: asyncio.Queue[Any]) -> None:
        self.seq = seq
        self._conn = conn
        self._queue = queue

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # later calls end too
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)
            raise item
        return item  # type: ignore[no-any-return]

    async def stop(self) -> None:
        """Ask the agent to stop this stream; records already in flight are dropped."""
        await self._conn.stop_stream(self.seq)


class RpcConnection:
    """A connected socket to an agent's RPC port, with its reader task."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        call_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.call_timeout = call_timeout
        self._reader = reader
        self._writer = writer
        self._packer = msgpack.Packer(use_bin_type=True)
        self._seq = 0
        self._calls: dict[int, _Call] = {}
        self._streams: dict[int, _Stream] = {}
        self._stopped: set[int] = set()  # streams whose late records we still have to skip
        self._body_for: _Call | _Stream | int | None = None
        self._write_lock = asyncio.Lock()
        self._failure: SerfError | None = None
        self._reader_task = asyncio.create_task(self._read_loop(), name="serf-rpc-reader")

    @property
    def closed(self) -> bool:
        return self._failure is not None

    async def close(self) -> None:
        """Close the socket; pending requests and streams fail with `SerfConnectionError`."""
        self._fail(SerfConnectionError("the serf RPC client was closed"))
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()

    async def open_stream(
        self,
        command: str,
        body: Mapping[str, Any],
        decode: Callable[[object], Any],
        ends_on: Callable[[Any], bool] | None = None,
    ) -> tuple[Reply, Subscription[Any]]:
        """Open a stream; the reply to the opening command, and the stream (empty if refused)."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        seq = self._next_seq()
        self._streams[seq] = _Stream(seq, queue, decode, ends_on or (lambda _item: False))
        try:
            reply = await self.request(command, body, seq=seq)
        except BaseException:
            self._streams.pop(seq, None)
            raise
        if reply.error:
            self._streams.pop(seq, None)
        return reply, Subscription(self, seq, queue)

    async def stop_stream(self, seq: int) -> None:
        """End a subscription here and ask the agent to stop sending it."""
        if seq in self._streams:
            self._stopped.add(seq)
            self._end_stream(seq, _END)
        await self.request("stop", {"Stop": seq})

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    async def request(
        self,
        command: str,
        body: Mapping[str, Any] | None = None,
        *,
        slow: bool = False,
        seq: int | None = None,
    ) -> Reply:
        """Send one command and wait for its reply, error string included."""
        if self._failure is not None:
            raise self._failure
        seq = self._next_seq() if seq is None else seq
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._calls[seq] = _Call(seq, future, command in p.COMMANDS_WITH_BODY)
        data = self._packer.pack({"Command": command, "Seq": seq})
        if body is not None:
            data += self._packer.pack(body)
        try:
            async with self._write_lock:
                self._writer.write(data)
                await self._writer.drain()
        except (OSError, ConnectionError) as exc:
            self._fail(SerfConnectionError(f"serf RPC connection lost: {exc}"))
        limit = max(self.call_timeout, SLOW_TIMEOUT) if slow else self.call_timeout
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(future)
        except TimeoutError as exc:
            # The entry stays registered so a late reply (and its body) is still consumed.
            raise SerfConnectionError(f"serf did not answer {command!r} in {limit:g}s") from exc

    async def _read_loop(self) -> None:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    raise SerfConnectionError("the serf agent closed the RPC connection")
                unpacker.feed(data)
                for obj in unpacker:
                    self._dispatch(obj)
        except SerfError as exc:
            self._fail(exc)
        except (OSError, ConnectionError, ValueError, msgpack.UnpackException) as exc:
            self._fail(SerfConnectionError(f"serf RPC connection lost: {exc}"))
        finally:
            self._fail(SerfConnectionError("serf RPC connection closed"))

    def _dispatch(self, obj: object) -> None:
        target, self._body_for = self._body_for, None
        if isinstance(target, _Call):
            self._resolve(target, obj)
            return
        if isinstance(target, _Stream):
            self._deliver(target, obj)
            return
        if isinstance(target, int):  # a record of a stream we stopped: skip it
            return
        header = p.as_map(obj, "response header")
        seq, error = header.get("Seq"), header.get("Error", "")
        if not isinstance(seq, int) or not isinstance(error, str):
            raise SerfProtocolError(f"serf sent a malformed response header: {header!r}")
        if (call := self._calls.get(seq)) is not None:
            call.error = error
            if call.expects_body and error not in p.BARE_ERRORS:
                self._body_for = call
                return
            self._resolve(call, None)
        elif (stream := self._streams.get(seq)) is not None:
            self._body_for = stream
        elif seq in self._stopped:
            self._body_for = seq
        else:
            raise SerfProtocolError(f"serf sent a response for unknown seq {seq}")

    def _resolve(self, call: _Call, body: object) -> None:
        self._calls.pop(call.seq, None)
        if not call.future.done():
            call.future.set_result(Reply(call.error, body))

    def _deliver(self, stream: _Stream, raw: object) -> None:
        try:
            item = stream.decode(raw)
        except SerfProtocolError as exc:
            log.warning("dropping a stream record serf sent: %s", exc)
            return
        stream.queue.put_nowait(item)
        if stream.ends_on(item):
            self._end_stream(stream.seq, _END)

    def _end_stream(self, seq: int, end: object) -> None:
        stream = self._streams.pop(seq, None)
        if stream is not None:
            stream.queue.put_nowait(end)

    def _fail(self, exc: SerfError) -> None:
        if self._failure is None:
            self._failure = exc
        for call in self._calls.values():
            if not call.future.done():
                call.future.set_exception(self._failure)
                call.future.exception()  # retrieved: an abandoned call must not warn
        self._calls.clear()
        for seq in list(self._streams):
            self._end_stream(seq, self._failure)
