"""`HttpForwarder`: delivers an invocation to the owning node's internal HTTP API.

The hot path goes over the peer link (`placement.link`); this forwarder is its fallback for a
peer that advertises no link (an older version, or `--link off`), and carries the cluster page's
status reads and the actor-host pushes.

One pooled aiohttp session per node. A call that could not even connect was never delivered and
raises `Unreachable` (the router may retry it). A call that was sent and then lost its connection
or timed out has an unknown outcome: it raises `Timeout` and is never retried, because the owner
may have applied it.
"""

from __future__ import annotations

import ssl as _ssl
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from roost.errors import RETRY_AFTER, Timeout, Unavailable, error_from_body
from roost.membership.base import Member
from roost.payload import RawPayload, decoded
from roost.placement.auth import HEADER, sign
from roost.placement.router import Unreachable
from roost.requestctx import HEADER as REQUEST_ID
from roost.requestctx import request_id as current_request_id
from roost.sdk.context import ActorId
from roost.sdk.state import encode_json, message_from

CONNECT_TIMEOUT = 2.0  # a live peer on a LAN accepts in milliseconds; longer means it is gone


class HttpForwarder:
    def __init__(
        self,
        key: bytes,
        *,
        scheme: str = "http",
        clock: Callable[[], float] = time.time,
        ssl: _ssl.SSLContext | bool = True,
    ) -> None:
        """`scheme="https"` with `ssl`, the context peers are verified with (and that presents
        this node's certificate for mutual TLS); `True` is the system store."""
        self._key = key
        self._scheme = scheme
        self._clock = clock
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=256, ssl=self._ssl),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

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
        path = (
            f"/internal/v1/systems/{quote(system, safe='')}/actors/{quote(actor, safe='')}"
            f"/actions/{quote(action, safe='')}"
        )
        if parent is not None:
            path += "?" + urlencode({"parent": parent})
        if type(payload) is RawPayload and payload.type_name is None:
            body = payload.data  # JSON as the entry node received it
        else:
            payload = decoded(payload)
            body = b"" if payload is None else encode_json(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Roost-Hops": str(hops),
            "X-Roost-Timeout-Ms": str(int(timeout * 1000)),
            HEADER: sign(self._key, "POST", path, body, self._clock()),
        }
        if metadata:
            headers["X-Roost-Metadata"] = orjson.dumps(dict(metadata)).decode()
        if dedupe is not None:
            headers["X-Roost-Dedupe"] = dedupe
        if caller is not None:
            headers["X-Roost-Caller"] = orjson.dumps(
                {"name": caller.name, "system": caller.system, "parent": caller.parent}
            ).decode()
        request_id = request_id or current_request_id()  # set by the HTTP API for its request
        if request_id:
            headers[REQUEST_ID] = request_id
        url = f"{self._scheme}://{member.http}{path}"
        client_timeout = aiohttp.ClientTimeout(
            total=timeout + 1.0, connect=min(CONNECT_TIMEOUT, timeout + 0.5)
        )
        try:
            async with self._client().post(
                url, data=body, headers=headers, timeout=client_timeout
            ) as resp:
                raw = await resp.read()
                status = resp.status
                reply_type = resp.headers.get("X-Roost-Type")
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(f"cannot connect to {member.id} at {member.http}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Timeout(
                f"call forwarded to {member.id} failed after it was sent ({type(exc).__name__}); "
                "its outcome is unknown"
            ) from exc
        if status == 200:
            if reply_type is not None:  # a protobuf reply keeps its type across nodes
                return message_from(reply_type, raw)
            return orjson.loads(raw) if raw else None
        if status == 401:  # our own signature (or client certificate): the caller did no wrong
            raise Unavailable(
                f"{member.id} refused this node's cluster credentials; nothing ran (do all nodes "
                "share ROOST_CLUSTER_SECRET, or accept it in ROOST_CLUSTER_OLD_SECRETS?)",
                retry_after=RETRY_AFTER,
            )
        raise error_from_body(status, raw)

    async def get_json(self, member: Member, path: str, timeout: float) -> Any:
        """A signed GET of a peer's internal read-only route (the cluster page's status)."""
        headers = {HEADER: sign(self._key, "GET", path, b"", self._clock())}
        url = f"{self._scheme}://{member.http}{path}"
        try:
            async with self._client().get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(f"cannot connect to {member.id} at {member.http}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Timeout(f"GET {path} on {member.id} failed: {type(exc).__name__}") from exc
        if status == 200:
            return orjson.loads(raw)
        raise error_from_body(status, raw)

    async def post_json(self, member: Member, path: str, body: Any, timeout: float) -> Any:
        """A signed POST of JSON to a peer's internal route (broadcast fan-out)."""
        raw_body = encode_json(body)
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(self._key, "POST", path, raw_body, self._clock()),
        }
        url = f"{self._scheme}://{member.http}{path}"
        try:
            async with self._client().post(
                url, data=raw_body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(f"cannot connect to {member.id} at {member.http}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Timeout(f"POST {path} on {member.id} failed: {type(exc).__name__}") from exc
        if status == 200:
            return orjson.loads(raw) if raw else None
        raise error_from_body(status, raw)
