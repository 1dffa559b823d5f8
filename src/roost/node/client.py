"""A small HTTP client for a node's public API (used by `roost.invoke` and the CLI)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from roost.errors import Overloaded, RoostError, Unavailable, error_from_code
from roost.node.tls import remote_context
from roost.sdk.state import encode_json


class Client:
    """``async with Client(url) as c: await c.invoke("incrementor", "add", {"value": 1})``."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        token: str | None = None,
        ca: str | None = None,
        verify: bool = True,
        retries: int = 3,
    ) -> None:
        """An https `url` is verified against the system store plus `ca` (default: the file
        named by ROOST_TLS_CA, if set); `verify=False` skips verification (tests, never prod).
        `token` (default: ROOST_API_TOKEN, if set; "" for none) goes as a bearer token. A call
        refused with 429 `overloaded` (nothing ran) is sent again up to `retries` times, after
        the node's Retry-After (jittered, at most MAX_BACKOFF s); no other error is retried."""
        self.url = url.rstrip("/")
        self._ssl: ssl.SSLContext | bool = verify
        if verify and self.url.startswith("https://"):
            self._ssl = remote_context(ca or os.environ.get("ROOST_TLS_CA") or None)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        if token is None:  # the public API's token, when the node requires one
            token = os.environ.get("ROOST_API_TOKEN") or None
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        self._retries = max(0, retries)

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            headers=self._headers,
            connector=aiohttp.TCPConnector(ssl=self._ssl),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        for attempt in range(self._retries + 1):
            try:
                return await self._once(method, path, body, headers)
            except Overloaded as exc:
                if attempt == self._retries:
                    raise
                # a shed call never ran: safe to send again, once the node had time to drain
                await asyncio.sleep(min(exc.retry_after, MAX_BACKOFF) * random.uniform(0.8, 1.2))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> Any:
        assert self._session is not None, "use `async with Client(...)`"
        hdrs = {"Content-Type": "application/json", **(headers or {})} if body is not None else {}
        try:
            async with self._session.request(method, self.url + path, data=body, headers=hdrs) as r:
                raw = await r.read()
                status = r.status
                retry_after = r.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"cannot reach {self.url}: {exc}") from exc
        if status == 202:
            return _scheduled_id(raw)
        try:
            data = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise RoostError(f"HTTP {status} from {self.url}: {raw[:200]!r}") from None
        if status >= 400:
            err = data.get("error", {}) if isinstance(data, dict) else {}
            message = str(err.get("message", raw[:200]))
            if status == 401 and not self._headers:
                message += " (set ROOST_API_TOKEN to one of the node's tokens)"
            if status == 429:
                raise Overloaded(message, retry_after=_seconds(retry_after))
            raise error_from_code(str(err.get("code", "internal")), message, status)
        return data

    async def invoke(
        self,
        actor: str,
        action: str,
        payload: Any = None,
        *,
        system: str = "spawn-system",
        parent: str | None = None,
        metadata: Mapping[str, str] | None = None,
        async_: bool = False,
        delay_ms: int | None = None,
        scheduled_to: int | None = None,
    ) -> Any:
        """The action's reply; None for `async_`; with `delay_ms` or `scheduled_to` (unix ms)
        the call is persisted to fire later and this returns the schedule's id."""
        later = (("delay_ms", delay_ms), ("scheduled_to", scheduled_to))
        q = {k: v for k, v in (("parent", parent), ("async", "true" if async_ else None)) if v}
        q.update((k, str(v)) for k, v in later if v is not None)
        path = f"/v1/systems/{quote(system, safe='')}/actors/{quote(actor, safe='')}/actions/"
        path += quote(action, safe="") + (f"?{urlencode(q)}" if q else "")
        headers = {"X-Roost-Metadata": json.dumps(dict(metadata))} if metadata else None
        body = b"" if payload is None else encode_json(payload)  # dataclasses, pydantic too
        return await self._request("POST", path, body, headers)

    async def spawn(self, actor: str, parent: str, *, system: str = "spawn-system") -> Any:
        path = f"/v1/systems/{quote(system, safe='')}/actors/{quote(actor, safe='')}/spawn"
        return await self._request("POST", path, orjson.dumps({"parent": parent}))

    async def members(self) -> Any:
        return await self._request("GET", "/v1/cluster/members")

    async def owner(self, actor: str, *, system: str = "spawn-system") -> Any:
        return await self._request(
            "GET", "/v1/cluster/owner?" + urlencode({"system": system, "actor": actor})
        )


MAX_BACKOFF = 10.0  # seconds; a longer Retry-After is capped (the caller has a deadline too)


def _seconds(retry_after: str | None) -> float:
    """Retry-After in seconds (we send whole seconds; an HTTP date or garbage counts as 1)."""
    try:
        return max(0.0, float(retry_after)) if retry_after is not None else 1.0
    except ValueError:
        return 1.0


def _scheduled_id(raw: bytes) -> str | None:
    """A 202's answer: the id of a scheduled call (``{"scheduled": id}``), else None (async)."""
    try:
        accepted = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
    sid = accepted.get("scheduled") if isinstance(accepted, dict) else None
    return sid if isinstance(sid, str) else None
