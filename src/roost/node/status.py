"""The cluster page (`GET /ui`) and the JSON it refreshes from (`GET /v1/cluster/status`).

Any node serves both. The node a browser talks to gathers every live peer's own figures over the
signed internal route `GET /internal/v1/status` and merges them with its view of the members and
the ring, so the page needs to reach one node only (a `kubectl port-forward` is enough; there is
no cross-origin call and no peer address has to be reachable from the browser).

`/v1/cluster/status` is public and read-only, like `/v1/cluster/members` and `/metrics`: member
ids, addresses and statuses, ring shares, counts per actor type, recent handoff sizes. It names no
actor instance and no state. Answers are cached for a second, so a page left open (or a flood of
requests) costs each peer at most one internal call per second.
"""

from __future__ import annotations

import asyncio
import time
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import orjson

from roost.errors import RoostError
from roost.membership.base import Member
from roost.node.request import Request
from roost.node.responses import Reply, error_body, error_response
from roost.node.routes import Routes
from roost.placement.ring import Ring

if TYPE_CHECKING:
    from roost.node.surface import StatusNode

STATUS_PATH = "/internal/v1/status"
PEER_TIMEOUT = 1.5  # seconds; a peer slower than this is shown as not answering
CACHE_SECONDS = 1.0

_ASSETS = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "app.css": "text/css",
}
_UI_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def local_status(node: StatusNode) -> dict[str, Any]:
    """This node's own figures (what a peer's internal status call returns)."""
    m = node.metrics
    by_type: dict[tuple[str, str], dict[str, Any]] = {}
    for (system, type_name), n in node.counts_by_type().items():
        by_type[(system, type_name)] = {"system": system, "type": type_name, "active": n}
    ok = failed = 0
    for (system, type_name, _action, outcome), n in list(m.invocations.items()):
        if outcome == "ok":
            ok += n
        else:
            failed += n
        row = by_type.setdefault(
            (system, type_name), {"system": system, "type": type_name, "active": 0}
        )
        row["invocations"] = row.get("invocations", 0) + n
    return {
        "id": node.node_id,
        "at": time.time(),
        "started_at": node.started_at,
        "ready": node.ready,
        "draining": node.draining,
        "inflight": node.inflight,
        "ring_version": node.ring().version,
        "active": sum(r["active"] for r in by_type.values()),
        "actors": [
            {"invocations": 0, **row} for _, row in sorted(by_type.items(), key=lambda kv: kv[0])
        ],
        "invocations": {"ok": ok, "error": failed},
        "forwarded": sum(m.forwarded.values()),
        "handoffs": {
            "total": sum(m.handoffs.values()),
            "recent": list(node.last_handoffs()),
        },
    }


class StatusApi:
    """The routes of the cluster page. Holds only caches; everything else is read from `node`."""

    def __init__(self, node: StatusNode) -> None:
        self.node = node
        ui = files("roost.node").joinpath("ui")
        self._assets = {name: ui.joinpath(name).read_bytes() for name in _ASSETS}
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()
        self._arcs: tuple[Ring, list[list[Any]]] | None = None

    def add_routes(self, r: Routes) -> None:
        r.get("/ui", self.page)
        r.get("/ui/", self.page)
        r.get("/ui/{name}", self.asset)
        r.get("/v1/cluster/status", self.status)
        r.get(STATUS_PATH, self.internal)

    async def page(self, request: Request) -> Reply:
        if request.path.endswith("/"):  # the page's links are relative to /ui
            return Reply(301, b"", None, {"Location": "../ui"})
        return self._serve("index.html")

    async def asset(self, request: Request) -> Reply:
        name = request.match_info["name"]
        if name not in _ASSETS:
            return error_body(404, "not_found", f"Not Found: {request.method} {request.path}")
        return self._serve(name)

    def _serve(self, name: str) -> Reply:
        return Reply(200, self._assets[name], f"{_ASSETS[name]}; charset=utf-8", _UI_HEADERS)

    async def status(self, request: Request) -> Reply:
        return Reply(200, orjson.dumps(await self.cluster()))

    async def internal(self, request: Request) -> Reply:
        try:
            self.node.verify_internal(request.method, request.path_qs, b"", request.headers)
        except RoostError as exc:
            return error_response(exc)
        return Reply(200, orjson.dumps(local_status(self.node)))

    async def cluster(self) -> dict[str, Any]:
        """Members, ring and every live node's figures; at most one gather per second."""
        cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with self._lock:  # concurrent callers share one gather
            cached = self._cached
            if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
                return cached[1]
            data = await self._gather()
            self._cached = (time.monotonic(), data)
            return data

    async def _gather(self) -> dict[str, Any]:
        node = self.node
        me = node.node_id
        view = node.view()
        ring = node.ring()
        peers = sorted((m for m in view.members.values() if m.alive and m.id != me), key=_id)
        answers = await asyncio.gather(*(self._peer(m) for m in peers))
        nodes = {me: local_status(node), **{m.id: a for m, a in zip(peers, answers, strict=True)}}
        return {
            "node": me,
            "at": time.time(),
            "version": view.version,
            "members": [m.to_json() for m in sorted(view.members.values(), key=_id)],
            "ring": {
                "version": ring.version,
                "vnodes": ring.vnodes,
                "members": list(ring.members),
                "shares": {k: round(v, 6) for k, v in ring.shares().items()},
                "arcs": self._ring_arcs(ring),
            },
            "nodes": nodes,
        }

    async def _peer(self, member: Member) -> dict[str, Any]:
        fwd = self.node.forwarder
        if fwd is None:
            return {"id": member.id, "error": "this node runs without peers"}
        try:
            data = await fwd.get_json(member, STATUS_PATH, PEER_TIMEOUT)
        except RoostError as exc:
            return {"id": member.id, "error": exc.message}
        except ValueError as exc:  # a 200 that is not JSON: not a Roost node (or a broken one)
            return {"id": member.id, "error": f"bad answer: {exc}"}
        return data if isinstance(data, dict) else {"id": member.id, "error": "bad answer"}

    def _ring_arcs(self, ring: Ring) -> list[list[Any]]:
        """The ring's arcs, rounded for the drawing; computed once per ring."""
        if self._arcs is None or self._arcs[0] is not ring:
            self._arcs = (ring, _drawn(ring.arcs()))
        return self._arcs[1]


ARC_STEP = 1000  # the drawing's resolution: 1/1000 of the ring (0.36 degrees)


def _drawn(arcs: list[tuple[float, float, str]]) -> list[list[Any]]:
    """Arcs snapped to 1/ARC_STEP of the ring, slivers dropped and neighbours of one owner
    merged: 1000 vnodes a member make thousands of exact arcs, more than a drawing can show."""
    out: list[list[Any]] = []
    for a, b, owner in arcs:
        start, end = round(a * ARC_STEP) / ARC_STEP, round(b * ARC_STEP) / ARC_STEP
        if end <= start:
            continue
        if out and out[-1][2] == owner:
            out[-1][1] = end
        else:
            out.append([start, end, owner])
    return out


def _id(m: Member) -> str:
    return m.id
