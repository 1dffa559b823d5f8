"""An asyncio client for Serf's msgpack RPC (one TCP connection to one agent).

Every request is a header map ``{"Command", "Seq"}`` optionally followed by a body map; every
response is a header ``{"Seq", "Error"}`` optionally followed by a body. Streams (`stream`,
`monitor`, `query`) keep sending header+record pairs under the Seq of the command that opened
them. One reader task owned by the client demultiplexes by Seq: a one-shot call resolves its
future, a stream record goes to its subscription's queue.

Concurrency: any number of coroutines on the client's event loop may call commands at once. The
client never reconnects by itself; when the connection drops, every pending call and every open
subscription fails with `SerfConnectionError` and `closed` becomes true. `connect_with_backoff`
opens a fresh client with retries; the owner (`SerfMembership`) re-subscribes after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgpack

from roost.membership import protocol as p
from roost.membership.clock import Backoff, Clock, SystemClock
from roost.membership.errors import (
    SerfAuthError,
    SerfCommandError,
    SerfConnectionError,
    SerfError,
    SerfProtocolError,
)
from roost.membership.settings import parse_hostport

log = logging.getLogger("roost.membership.rpc")
T = TypeVar("T")
_END = object()
DEFAULT_TIMEOUT = 10.0  # a loopback agent answers in microseconds; 10 s means it is wedged
SLOW_TIMEOUT = 60.0  # join dials every address (TCP timeout 10 s each); key ops wait on a query


@dataclass(frozen=True, slots=True)
class _Reply:
    error: str
    body: Any


@dataclass(slots=True)
class _Call:
    seq: int
    future: asyncio.Future[_Reply]
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

    def __init__(self, client: SerfRPC, seq: int, queue: asyncio.Queue[Any]) -> None:
        self.seq = seq
        self._client = client
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
        await self._client.stop_stream(self.seq)


class SerfRPC:
    """One authenticated RPC connection to a Serf agent. Build it with `SerfRPC.connect`."""

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

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls, addr: str, auth_key: str | None = None, *, call_timeout: float = DEFAULT_TIMEOUT
    ) -> SerfRPC:
        """Connect, handshake and (if `auth_key`) authenticate; raise a `SerfError` if not.

        `call_timeout` bounds the connect and every later command (cluster-wide ones, such as
        join and keyring changes, get at least `SLOW_TIMEOUT`).
        """
        host, port = parse_hostport(addr, None)
        try:
            async with asyncio.timeout(call_timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise SerfConnectionError(f"cannot reach the serf agent at {addr}: {exc}") from exc
        client = cls(reader, writer, call_timeout)
        try:
            try:
                await client._call("handshake", {"Version": p.IPC_VERSION})
            except SerfCommandError as exc:
                raise SerfProtocolError(f"serf agent at {addr}: {exc.message}") from exc
            if auth_key:
                await client._call("auth", {"AuthKey": auth_key})
        except BaseException:
            await client.close()
            raise
        return client

    @property
    def closed(self) -> bool:
        return self._failure is not None

    async def close(self) -> None:
        """Close the connection; pending calls and streams fail with `SerfConnectionError`."""
        self._fail(SerfConnectionError("the serf RPC client was closed"))
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()

    # -- commands ----------------------------------------------------------------------------

    async def members(self) -> tuple[p.SerfMember, ...]:
        return p.decode_members(await self._call("members"))

    async def members_filtered(
        self,
        tags: Mapping[str, str] | None = None,
        status: str = "",
        name: str = "",
    ) -> tuple[p.SerfMember, ...]:
        """Members matching every filter; values are regular expressions anchored at both ends."""
        body = {"Tags": dict(tags or {}), "Status": status, "Name": name}
        return p.decode_members(await self._call("members-filtered", body))

    async def join(self, addrs: Sequence[str], *, replay: bool = False) -> int:
        """Join the cluster through `addrs`; the number reached. Raises if none answered."""
        body = {"Existing": list(addrs), "Replay": replay}
        reply = await self._request("join", body, slow=True)
        num = int(_body(reply.body).get("Num", 0))
        if num == 0 and reply.error:
            raise SerfCommandError(f"serf join: {reply.error.strip()}", command="join")
        return num

    async def leave(self) -> None:
        """Leave gracefully; the agent then shuts itself down and this connection closes."""
        await self._call("leave", slow=True)

    async def set_tags(self, tags: Mapping[str, str], delete: Sequence[str] = ()) -> None:
        """Update this agent's tags; Serf gossips a member-update at once."""
        await self._call("tags", {"Tags": dict(tags), "DeleteTags": list(delete)})

    async def user_event(self, name: str, payload: bytes = b"", *, coalesce: bool = True) -> None:
        await self._call("event", {"Name": name, "Payload": payload, "Coalesce": coalesce})

    async def stream(self, event_filter: str = "*") -> Subscription[p.SerfEvent]:
        """Subscribe to events (Serf's filter syntax, e.g. "member-join,user:deploy" or "*")."""
        return await self._open_stream("stream", {"Type": event_filter}, p.decode_event)

    async def monitor(self, log_level: str = "INFO") -> Subscription[str]:
        """Subscribe to the agent's log lines at `log_level` or above (one per connection)."""

        def decode(raw: object) -> str:
            return str(raw.get("Log", "")) if isinstance(raw, Mapping) else ""

        return await self._open_stream("monitor", {"LogLevel": log_level}, decode)

    async def query(
        self,
        name: str,
        payload: bytes = b"",
        *,
        filter_nodes: Sequence[str] = (),
        filter_tags: Mapping[str, str] | None = None,
        request_ack: bool = False,
        query_timeout: float = 0.0,
    ) -> Subscription[p.QueryRecord]:
        """Send a query; iterate its acks and responses until Serf says it is done.

        `query_timeout` (seconds) overrides Serf's default query deadline when positive.
        """
        body = {
            "FilterNodes": list(filter_nodes),
            "FilterTags": dict(filter_tags or {}),
            "RequestAck": request_ack,
            "Timeout": int(
                query_timeout * 1e9
            ),  # Go time.Duration: nanoseconds; 0 = Serf's default
            "Name": name,
            "Payload": payload,
        }
        return await self._open_stream(
            "query", body, p.decode_query_record, ends_on=lambda r: r.kind == "done"
        )

    async def respond(self, query_id: int, payload: bytes) -> None:
        """Answer a `QueryEvent` received on a stream of this same connection."""
        await self._call("respond", {"ID": query_id, "Payload": payload})

    async def install_key(self, key: str) -> p.KeyResponse:
        return await self._key_command("install-key", {"Key": key})

    async def use_key(self, key: str) -> p.KeyResponse:
        return await self._key_command("use-key", {"Key": key})

    async def remove_key(self, key: str) -> p.KeyResponse:
        return await self._key_command("remove-key", {"Key": key})

    async def list_keys(self) -> p.KeyResponse:
        return await self._key_command("list-keys", None)

    async def stats(self) -> p.SerfStats:
        return p.decode_stats(await self._call("stats"))

    async def stop_stream(self, seq: int) -> None:
        if seq in self._streams:
            self._stopped.add(seq)
            self._end_stream(seq, _END)
        await self._call("stop", {"Stop": seq})

    # -- plumbing ----------------------------------------------------------------------------

    async def _key_command(self, command: str, body: Mapping[str, Any] | None) -> p.KeyResponse:
        reply = await self._request(command, body, slow=True)
        if reply.body is None:
            raise SerfCommandError(f"serf {command}: {reply.error.strip()}", command=command)
        result = p.decode_key_response(reply.body)
        if reply.error:
            detail = "; ".join(f"{n}: {m}" for n, m in result.messages.items() if m)
            message = f"serf {command}: {reply.error.strip()} {detail}".strip()
            raise SerfCommandError(message, command=command)
        return result

    async def _open_stream(
        self,
        command: str,
        body: Mapping[str, Any],
        decode: Callable[[object], Any],
        ends_on: Callable[[Any], bool] | None = None,
    ) -> Subscription[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        seq = self._next_seq()
        self._streams[seq] = _Stream(seq, queue, decode, ends_on or (lambda _item: False))
        try:
            await self._call(command, body, seq=seq)
        except BaseException:
            self._streams.pop(seq, None)
            raise
        return Subscription(self, seq, queue)

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    async def _call(
        self,
        command: str,
        body: Mapping[str, Any] | None = None,
        *,
        slow: bool = False,
        seq: int | None = None,
    ) -> Any:
        """Run one command; its body (None if it has none); `SerfCommandError` on an error."""
        reply = await self._request(command, body, slow=slow, seq=seq)
        if reply.error in p.AUTH_ERRORS:
            raise SerfAuthError(
                f"the serf agent refused {command!r}: {reply.error}; "
                "is it configured with the same cluster secret?"
            )
        if reply.error:
            raise SerfCommandError(f"serf {command}: {reply.error.strip()}", command=command)
        return reply.body

    async def _request(
        self,
        command: str,
        body: Mapping[str, Any] | None = None,
        *,
        slow: bool = False,
        seq: int | None = None,
    ) -> _Reply:
        """Send one command and wait for its reply, error string included."""
        if self._failure is not None:
            raise self._failure
        seq = self._next_seq() if seq is None else seq
        future: asyncio.Future[_Reply] = asyncio.get_running_loop().create_future()
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
        header = p._map(obj, "response header")
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
            call.future.set_result(_Reply(call.error, body))

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


def _body(result: object) -> Mapping[str, Any]:
    return result if isinstance(result, Mapping) else {}


async def connect_with_backoff(
    addr: str,
    auth_key: str | None,
    *,
    deadline: float | None,
    clock: Clock | None = None,
    backoff: Backoff | None = None,
) -> SerfRPC:
    """`SerfRPC.connect` until it works or `deadline` (clock time) passes.

    Only connection failures are retried: a refused auth key or a protocol mismatch will not
    fix itself, so it is raised at once.
    """
    clock = clock or SystemClock()
    backoff = backoff or Backoff(initial=0.05, cap=2.0)
    while True:
        try:
            return await SerfRPC.connect(addr, auth_key)
        except SerfConnectionError:
            if deadline is not None and clock.monotonic() >= deadline:
                raise
        delay = backoff.next()
        if deadline is not None:
            delay = max(0.0, min(delay, deadline - clock.monotonic()))
        await clock.sleep(delay)
