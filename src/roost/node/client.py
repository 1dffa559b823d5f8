"""A small HTTP client for a node's public API (used by `roost.invoke` and the CLI)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from roost.errors import RoostError, Unavailable, error_from_code


class Client:
    """``async with Client(url) as c: await c.invoke("incrementor", "add", {"value": 1})``."""

    def __init__(self, url: str, *, timeout: float = 60.0, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
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
        assert self._session is not None, "use `async with Client(...)`"
        hdrs = {"Content-Type": "application/json", **(headers or {})} if body is not None else {}
        try:
            async with self._session.request(method, self.url + path, data=body, headers=hdrs) as r:
                raw = await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"cannot reach {self.url}: {exc}") from exc
        if status == 202:
            return None
        try:
            data = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise RoostError(f"HTTP {status} from {self.url}: {raw[:200]!r}") from None
        if status >= 400:
            err = data.get("error", {}) if isinstance(data, dict) else {}
            raise error_from_code(
                str(err.get("code", "internal")), str(err.get("message", raw[:200])), status
            )
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
    ) -> Any:
        q = {k: v for k, v in (("parent", parent), ("async", "true" if async_ else None)) if v}
        path = f"/v1/systems/{quote(system, safe='')}/actors/{quote(actor, safe='')}/actions/"
        path += quote(action, safe="") + (f"?{urlencode(q)}" if q else "")
        headers = {"X-Roost-Metadata": json.dumps(dict(metadata))} if metadata else None
        body = b"" if payload is None else orjson.dumps(payload)
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
