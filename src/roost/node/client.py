"""A small HTTP client for a cluster's public API (used by `roost.invoke` and the CLI).

Owner-aware: from its second call on, it keeps a copy of the ring (GET /v1/cluster/ring, one
entry per member) and sends each call to the actor's owner, so no node has to forward it. Every
reply names the ring version the node routed with (X-Roost-Ring-Version); a different one makes
the client fetch the ring again. A node that refuses the connection (nothing was sent) is skipped
for a few seconds and the call goes to another; a call that was sent is never sent again, except
a 429 (refused before it ran).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from roost.errors import Overloaded, RoostError, Timeout, Unavailable, error_from_code
from roost.node.clientring import DOWN_FOR, ClientRing
from roost.node.tls import remote_context
from roost.sdk.state import encode_json

RING_PATH = "/v1/cluster/ring"
RING_HEADER = "X-Roost-Ring-Version"
REFRESH_EVERY = 1.0  # seconds: at most one ring fetch a second, however many replies disagree


class _NotSent(Exception):
    """The connection could not be made: nothing was sent, another node may take the call."""


class Client:
    """``async with Client(url) as c: await c.invoke("incrementor", "add", {"value": 1})``."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        timeout: float = 60.0,
        token: str | None = None,
        ca: str | None = None,
        verify: bool = True,
        retries: int = 3,
        owner_aware: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`url` names one node or several (a sequence, or a comma list as in ROOST_URL): the
        first that accepts a connection takes calls until the ring is known. An https `url` is
        verified against the system store plus `ca` (default: the file named by ROOST_TLS_CA,
        if set); `verify=False` skips verification (tests, never prod). `token` (default:
        ROOST_API_TOKEN, if set; "" for none) goes as a bearer token. A call refused with 429
        `overloaded` (nothing ran) is sent again up to `retries` times, after the node's
        Retry-After (jittered, at most MAX_BACKOFF s); no other error is retried.
        `owner_aware=False` sends every call to the nodes named (behind a load balancer whose
        members' own addresses are not reachable, say)."""
        urls = url.split(",") if isinstance(url, str) else list(url)
        self.seeds = [u.strip().rstrip("/") for u in urls if u.strip()]
        if not self.seeds:
            raise ValueError("no node URL given")
        self.url = self.seeds[0]
        self._scheme = self.url.split("://", 1)[0] if "://" in self.url else "http"
        self._ssl: ssl.SSLContext | bool = verify
        if verify and any(u.startswith("https://") for u in self.seeds):
            self._ssl = remote_context(ca or os.environ.get("ROOST_TLS_CA") or None)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        if token is None:  # the public API's token, when the node requires one
            token = os.environ.get("ROOST_API_TOKEN") or None
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        self._retries = max(0, retries)
        self.owner_aware = owner_aware
        self.ring: ClientRing | None = None
        self._clock = clock
        self._calls = 0
        self._fetched_at = -REFRESH_EVERY
        self._stale = False
        self._refresh_task: asyncio.Task[bool] | None = None
        self._down: dict[str, float] = {}  # seeds that refused a connection, until when

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            headers=self._headers,
            connector=aiohttp.TCPConnector(ssl=self._ssl),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        task = self._refresh_task
        if task is not None and not task.done():
            task.cancel()
        if self._session is not None:
            await self._session.close()

    async def refresh(self) -> bool:
        """Fetch the ring now (from the nodes named, else any member); True when this client
        now has one. Never raises: without a ring, calls go to the nodes named."""
        self._fetched_at = self._clock()
        self._stale = False
        for base in self._candidates(None):
            try:
                doc = await self._once("GET", RING_PATH, None, None, base)
            except (_NotSent, RoostError, ValueError):
                continue  # an older node (404), a refused token, a node down: try the next
            try:
                ring = ClientRing(doc, self._scheme)
            except ValueError:
                # a ring this client does not compute (the cluster is mid-upgrade from nodes
                # that predate it): forget the old copy, calls go through the nodes named
                self.ring = None
                return False
            self.ring = ring
            self._stale = False  # (the fetch's own reply may have flagged the old copy)
            return True
        return False

    def _maybe_refresh(self) -> None:
        """Start a ring fetch in the background when one is due; calls never wait for it."""
        if not self.owner_aware or (self._refresh_task and not self._refresh_task.done()):
            return
        due = self.ring is None or self._stale
        if due and self._clock() - self._fetched_at >= REFRESH_EVERY:
            self._refresh_task = asyncio.create_task(self.refresh())

    def _candidates(self, owner: str | None) -> list[str]:
        """Where to send a call, in order: its owner, then the nodes named, then every member;
        nodes that lately refused a connection last."""
        now = self._clock()
        out = [owner] if owner else []
        out += [u for u in self.seeds if u not in out and self._down.get(u, 0.0) <= now]
        if self.ring is not None:
            out += [u for u in self.ring.others(now) if u not in out]
        out += [u for u in self.seeds if u not in out]
        return out

    async def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        owner: str | None,
    ) -> Any:
        """One delivery: to the owner (else the first node named that is up), and on a refused
        connection to the next candidate (the candidate list is built only then)."""
        first = owner or self._seed()
        try:
            return await self._once(method, path, body, headers, first)
        except _NotSent as exc:
            tried = {first: str(exc)}
            self._refused(first)
        for base in self._candidates(owner):
            if base in tried:
                continue
            try:
                return await self._once(method, path, body, headers, base)
            except _NotSent as exc:
                tried[base] = str(exc)
                self._refused(base)
        raise Unavailable("cannot reach any node: " + "; ".join(tried.values()))

    def _seed(self) -> str:
        if not self._down:  # the common case
            return self.seeds[0]
        now = self._clock()
        return next((u for u in self.seeds if self._down.get(u, 0.0) <= now), self.seeds[0])

    def _refused(self, base: str) -> None:
        """`base` refused a connection: skip it for a while; its ring has likely changed."""
        now = self._clock()
        self._down[base] = now + DOWN_FOR
        if self.ring is not None:
            self.ring.mark_down(base, now)
            self._stale = True

    async def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        owner: str | None = None,
    ) -> Any:
        for attempt in range(self._retries + 1):
            try:
                return await self._send(method, path, body, headers, owner)
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
        base: str,
    ) -> Any:
        assert self._session is not None, "use `async with Client(...)`"
        hdrs = {"Content-Type": "application/json", **(headers or {})} if body is not None else {}
        try:
            async with self._session.request(method, base + path, data=body, headers=hdrs) as r:
                raw = await r.read()
                status = r.status
                retry_after = r.headers.get("Retry-After")
                version = r.headers.get(RING_HEADER)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise _NotSent(f"cannot connect to {base}: {exc!r}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            # sent, then cut off or unanswered: it may have run, so it is never sent again
            raise Timeout(f"no answer from {base} ({exc!r}); the call may have run") from exc
        ring = self.ring
        if ring is not None and version is not None and version != ring.version:
            self._stale = True
        if status == 202:
            return _scheduled_id(raw)
        try:
            data = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise RoostError(f"HTTP {status} from {base}: {raw[:200]!r}") from None
        if status >= 400:
            err = data.get("error", {}) if isinstance(data, dict) else {}
            message = str(err.get("message", raw[:200]))
            if status == 401 and not self._headers:
                message += " (set ROOST_API_TOKEN to one of the node's tokens)"
            if status == 429:
                raise Overloaded(message, retry_after=_seconds(retry_after))
            raise error_from_code(str(err.get("code", "internal")), message, status)
        return data

    def _owner(self, system: str, actor: str) -> str | None:
        """The owner's URL by this client's ring (None: no ring yet, or the owner is down)."""
        self._calls += 1
        if self._calls >= 2:  # a one-shot client (roost.invoke, the CLI) never fetches a ring
            self._maybe_refresh()
        ring = self.ring
        if ring is None:
            return None
        return ring.owner_url(system, actor, self._clock() if ring.has_down else 0.0)

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
        return await self._request("POST", path, body, headers, self._owner(system, actor))

    async def spawn(self, actor: str, parent: str, *, system: str = "spawn-system") -> Any:
        path = f"/v1/systems/{quote(system, safe='')}/actors/{quote(actor, safe='')}/spawn"
        owner = self._owner(system, actor)
        return await self._request("POST", path, orjson.dumps({"parent": parent}), owner=owner)

    async def members(self) -> Any:
        return await self._request("GET", "/v1/cluster/members")

    async def ring_document(self) -> Any:
        """GET /v1/cluster/ring from the nodes named: what owner-aware clients route with."""
        return await self._request("GET", RING_PATH)

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
