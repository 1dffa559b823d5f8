"""`SerfRPC`: typed commands of Serf's msgpack RPC, written from Serf's `docs/agent/rpc` page.

Commands: handshake and auth (in `connect`), members, members-filtered, join, leave, tags,
stream (member and user events, queries), event, query/respond, monitor, the keyring
(install/use/remove/list), stats. Results are frozen dataclasses from `protocol.py`; errors are
the `SerfError` branch (`errors.py`). The framing lives in `rpcconn.py`.

Concurrency: any number of coroutines on the client's event loop may call commands at once. The
client never reconnects by itself; after the connection drops every call raises
`SerfConnectionError` and `closed` is true. `connect_with_backoff` opens a fresh client with
retries; the owner (`SerfMembership`) re-subscribes after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from roost.membership import protocol as p
from roost.membership.clock import Backoff, Clock, SystemClock
from roost.membership.errors import (
    SerfAuthError,
    SerfCommandError,
    SerfConnectionError,
    SerfProtocolError,
)
from roost.membership.rpcconn import DEFAULT_TIMEOUT, RpcConnection, Subscription
from roost.membership.settings import parse_hostport

__all__ = ["SerfRPC", "Subscription", "connect_with_backoff"]


class SerfRPC:
    """One authenticated RPC connection to a Serf agent. Build it with `SerfRPC.connect`."""

    def __init__(self, conn: RpcConnection) -> None:
        self._conn = conn

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
        client = cls(RpcConnection(reader, writer, call_timeout))
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
        return self._conn.closed

    async def close(self) -> None:
        """Close the connection; pending calls and streams fail with `SerfConnectionError`."""
        await self._conn.close()

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
        reply = await self._conn.request("join", body, slow=True)
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
        await self._conn.stop_stream(seq)

    # -- plumbing ----------------------------------------------------------------------------

    async def _key_command(self, command: str, body: Mapping[str, Any] | None) -> p.KeyResponse:
        reply = await self._conn.request(command, body, slow=True)
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
        reply, sub = await self._conn.open_stream(command, body, decode, ends_on)
        self._raise_for(command, reply.error)
        return sub

    async def _call(
        self,
        command: str,
        body: Mapping[str, Any] | None = None,
        *,
        slow: bool = False,
        seq: int | None = None,
    ) -> Any:
        """Run one command; its body (None if it has none); `SerfCommandError` on an error."""
        reply = await self._conn.request(command, body, slow=slow, seq=seq)
        self._raise_for(command, reply.error)
        return reply.body

    @staticmethod
    def _raise_for(command: str, error: str) -> None:
        if error in p.AUTH_ERRORS:
            raise SerfAuthError(
                f"the serf agent refused {command!r}: {error}; "
                "is it configured with the same cluster secret?"
            )
        if error:
            raise SerfCommandError(f"serf {command}: {error.strip()}", command=command)


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
