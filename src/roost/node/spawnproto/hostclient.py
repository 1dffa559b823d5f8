"""`HostClient`: the node's calls to Spawn actor hosts (``POST {host}/api/v1/actors/actions``).

A host that cannot be connected to was never called: `HostUnavailable` (503), at once for a
refused connection and within `connect_timeout` for one that does not answer, so a dead host never
hangs a caller. A host that was called and then failed (an error status, a broken or late reply)
fails the action: `ActionFailed` (500), and the turn's state is rolled back.

The body goes out in one write with a Content-Length: Spawn's Node SDK decodes each chunk it
receives on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import aiohttp

from roost.errors import ActionFailed, BadRequest, HostUnavailable
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.wire import PROTOBUF, parse

ACTIONS_PATH = "/api/v1/actors/actions"
CONNECT_TIMEOUT = 2.0  # a live host beside the node accepts in milliseconds


class HostClient:
    """One pooled aiohttp session for every host this node calls."""

    def __init__(self, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=64),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self, url: str, invocation: P.ActorInvocation, timeout: float
    ) -> P.ActorInvocationResponse:
        """Run one action on the host at `url` and return its reply."""
        body = invocation.SerializeToString()
        what = f"{invocation.actor.name}.{invocation.action_name} on actor host {url}"
        client_timeout = aiohttp.ClientTimeout(
            total=timeout, connect=min(self.connect_timeout, timeout)
        )
        headers = {"Content-Type": PROTOBUF, "Accept": PROTOBUF}
        try:
            async with self._client().post(
                url.rstrip("/") + ACTIONS_PATH, data=body, headers=headers, timeout=client_timeout
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise HostUnavailable(f"cannot connect to actor host {url}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ActionFailed(
                f"{what} gave no complete reply ({type(exc).__name__}: {exc}); "
                "the turn's state was kept as it was"
            ) from exc
        if status != 200:
            text = raw[:300].decode("utf-8", "replace").strip()
            detail = f": {text}" if text else " (the action raised in the host)"
            raise ActionFailed(f"{what} answered HTTP {status}{detail}")
        try:
            return parse(P.ActorInvocationResponse, raw)
        except BadRequest as exc:
            raise ActionFailed(f"{what} answered a malformed ActorInvocationResponse") from exc

    async def ping(self, url: str) -> bool:
        """Whether the host accepts a TCP connection (SDK hosts serve no health route)."""
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, writer = await asyncio.open_connection(parts.hostname, port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
