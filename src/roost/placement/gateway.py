"""`HttpRemoteSystems`: systems hosted by other Roost clusters, reached through their public API.

Configured with ``ROOST_REMOTE_SYSTEMS="billing=https://billing.example:8800,..."`` and that
cluster's API token in ``ROOST_REMOTE_TOKENS="billing=TOKEN"``. A call to such a system from an
action, the Python API, HTTP or the protocol port goes to that cluster's
``POST /v1/systems/{system}/actors/{actor}/actions/{action}`` (which routes it to the owner
there). Errors come back as the same Roost errors; an unreachable gateway is 503. A 401 from
the remote cluster means this cluster's token for it is wrong, not the caller's: it comes back
as 500 `internal` naming ROOST_REMOTE_TOKENS. The remote sees the call as an external one (no
calling actor): its ACL `from` rules cannot be satisfied across clusters.
"""

from __future__ import annotations

import ssl as _ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from roost.errors import Internal, Timeout, Unavailable, error_from_body
from roost.sdk.state import encode_json
from roost.tracing import headers as trace_headers


class HttpRemoteSystems:
    def __init__(
        self,
        urls: Mapping[str, str],
        tokens: Mapping[str, str] | None = None,
        *,
        ssl: _ssl.SSLContext | bool = True,
    ) -> None:
        """`ssl` verifies https gateways: `True` is the system store; the node passes one that
        also trusts `--tls-ca`."""
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.tokens = dict(tokens or {})
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None

    def __contains__(self, system: object) -> bool:
        return system in self.urls

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def invoke(
        self,
        system: str,
        actor: str,
        action: str,
        payload: Any,
        *,
        parent: str | None,
        metadata: Mapping[str, str] | None,
        timeout: float,
    ) -> Any:
        base = self.urls[system]
        path = (
            f"/v1/systems/{quote(system, safe='')}/actors/{quote(actor, safe='')}"
            f"/actions/{quote(action, safe='')}"
        )
        if parent is not None:
            path += "?" + urlencode({"parent": parent})
        headers = {
            "Content-Type": "application/json",
            "X-Roost-Timeout-Ms": str(max(1, int(timeout * 1000))),
        }
        if system in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[system]}"
        if metadata:
            headers["X-Roost-Metadata"] = orjson.dumps(dict(metadata)).decode()
        headers.update(trace_headers())  # W3C trace context: the other cluster continues it
        body = b"" if payload is None else encode_json(payload)
        try:
            async with self._client().post(
                base + path, data=body, headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout + 1.0, connect=2.0),
            ) as resp:  # fmt: skip
                raw = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorError as exc:
            raise Unavailable(f"remote system {system!r} at {base} is unreachable: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Timeout(
                f"call to remote system {system!r} failed after it was sent "
                f"({type(exc).__name__}); its outcome is unknown"
            ) from exc
        if status == 200:
            return orjson.loads(raw) if raw else None
        if status == 401:
            sent = "a token that it refused" if system in self.tokens else "no token"
            raise Internal(
                f"remote system {system!r} at {base} needs an API token and this node sent "
                f"{sent} (set ROOST_REMOTE_TOKENS={system}=TOKEN)"
            )
        raise error_from_body(status, raw)
