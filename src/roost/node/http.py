"""The node's HTTP API (aiohttp): the public JSON API, health, metrics, and the internal routes.

`error_response` is the one place a `RoostError` becomes an HTTP status and body. Input is
checked here before anything runs: names, media type, size, JSON, metadata. Bad input gets a 4xx
that names the problem and never reaches an actor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from google.protobuf.message import Message
from prometheus_client import CONTENT_TYPE_LATEST

from roost.errors import (
    BadRequest,
    PayloadTooLarge,
    RoostError,
    SystemNotFound,
    Unavailable,
    UnsupportedMediaType,
)
from roost.membership.systems import any_host, hosts_system, named_systems, systems_of
from roost.node import openapi
from roost.node.openapi_typed import schema_names
from roost.node.request import Request
from roost.node.responses import JSON, Reply, error_response, json_response
from roost.node.routes import Routes
from roost.payload import RawPayload
from roost.placement.router import forwarded_bounds
from roost.sdk.actor import valid_name
from roost.sdk.context import ActorId
from roost.sdk.state import message_from, parse_json_payload
from roost.sdk.workflow import Broadcast

if TYPE_CHECKING:
    from roost.node.surface import HttpNode

log = logging.getLogger("roost.http")

RING_VERSION = "X-Roost-Ring-Version"  # on every reply: owner-aware clients see a stale ring
INVOKE_ROUTE = "/v1/systems/{system}/actors/{actor}/actions/{action}"
RouteHandler = Callable[[Request], Awaitable[Reply]]


def _untraced(method: str, route: str, handler: RouteHandler) -> RouteHandler:
    """Tracing off: the route's handler as it is (nothing added per request)."""
    return handler


def _name(value: str, what: str) -> str:
    if not valid_name(value):
        raise BadRequest(f"{what} name {value[:300]!r} is not valid (1-255 characters, no '/')")
    return value


GOOD_NAMES_MAX = 100_000  # bound of the per-API cache of names already validated


def parse_metadata(raw: str | None) -> Mapping[str, str] | None:
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"X-Roost-Metadata is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("X-Roost-Metadata must be a JSON object of strings")
    if not all(isinstance(v, str) for v in data.values()):
        raise BadRequest("X-Roost-Metadata values must be strings")
    return data


MAX_TIMEOUT_MS = 600_000


def parse_timeout(raw: str | None) -> float | None:
    """X-Roost-Timeout-Ms: the caller's deadline for this invocation, in milliseconds."""
    if raw is None:
        return None
    try:
        ms = int(raw)
    except ValueError:
        raise BadRequest(f"X-Roost-Timeout-Ms must be an integer, got {raw[:40]!r}") from None
    if not 1 <= ms <= MAX_TIMEOUT_MS:
        raise BadRequest(f"X-Roost-Timeout-Ms must be between 1 and {MAX_TIMEOUT_MS}")
    return ms / 1000.0


def _int_param(request: Request, name: str) -> int | None:
    if not request.query_string:
        return None
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name}={raw[:40]!r} must be an integer") from None


def _flag(request: Request, name: str) -> bool:
    v = request.query.get(name)
    if v is None:
        return False
    if v.lower() in ("true", "1", "yes", ""):
        return True
    if v.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"query parameter {name}={v!r} must be true or false")


PROTOBUF = ("application/protobuf", "application/x-protobuf")


async def read_payload(request: Request, max_body: int, *, lazy: bool = False) -> Any:
    """The payload of a request: JSON, or a protobuf message (``application/protobuf`` with
    ``X-Roost-Type`` naming it); None for an empty body. The one place a call's body is decoded.
    `lazy`: the bytes as a `RawPayload`, decoded where the actor runs (a call forwarded to its
    owner over the peer link is never decoded and encoded again on the way)."""
    length = request.content_length
    if length is not None and length > max_body:
        raise PayloadTooLarge(f"body of {length} bytes exceeds the limit of {max_body} bytes")
    ctype = request.headers.get("content-type")
    mime = "" if ctype is None else ctype.split(";", 1)[0].strip().lower()
    proto = mime in PROTOBUF
    if mime and not proto and mime != JSON and not mime.endswith("+json"):
        if length == 0:
            return None
        raise UnsupportedMediaType(
            f"Content-Type {mime!r} is not supported; send {JSON} or application/protobuf"
        )
    body = await request.read()
    if proto:
        tname = request.headers.get("x-roost-type")
        return RawPayload(body, tname) if lazy and tname else parse_protobuf(body, tname)
    if not body or body.isspace():
        return None
    return RawPayload(body) if lazy else parse_json_payload(body)


def parse_protobuf(body: bytes, type_name: str | None) -> Any:
    if not type_name:
        raise BadRequest("application/protobuf needs X-Roost-Type naming the message type")
    return message_from(type_name, body)


def reply_response(request: Request, reply: Any, *, internal: bool = False) -> Reply:
    """The reply as JSON, or as protobuf bytes when the caller accepts it (peers always do) and
    it is a message."""
    if isinstance(reply, Message) and (
        internal or any(p in request.headers.get("accept", "") for p in PROTOBUF)
    ):
        return Reply(
            200,
            reply.SerializeToString(),
            "application/protobuf",
            {"X-Roost-Type": reply.DESCRIPTOR.full_name},
        )
    return json_response(reply)


ACCEPTED = b'{"accepted":true}'


class HttpApi:
    """Routes of one node. Holds no state of its own beyond the node and a cache of names."""

    def __init__(self, node: HttpNode, extra: Callable[[Routes], None]) -> None:
        self.node = node
        self.extra = extra  # adds the routes of other parts (the cluster page, Spawn's push)
        self.max_body = node.max_body
        self._good: set[str] = set()  # names validated before: a set hit is cheaper than a regex

    def _checked(self, value: str, what: str) -> str:
        if value in self._good:
            return value
        _name(value, what)
        if len(self._good) >= GOOD_NAMES_MAX:
            self._good.clear()
        self._good.add(value)
        return value

    def routes(self) -> Routes:
        r = Routes()
        base = "/v1/systems/{system}/actors/{actor}"
        traced = self._traced if self.node.tracing.on else _untraced
        r.post(INVOKE_ROUTE, traced("POST", INVOKE_ROUTE, self.invoke), gate=self.admit_invoke)
        r.post(base + "/spawn", traced("POST", base + "/spawn", self.spawn))
        r.get(base + "/state", traced("GET", base + "/state", self.state))
        r.get("/v1/systems", self.systems)
        r.get("/v1/cluster/members", self.members)
        r.get("/v1/cluster/owner", self.owner)
        r.get("/v1/cluster/ring", self.ring)
        r.get("/healthz", self.healthz, gate=self.live)  # answered from the head, no task
        r.get("/readyz", self.readyz)
        r.get("/metrics", self.metrics)
        r.post("/internal" + base + "/actions/{action}", self.internal_invoke, gate=self.admit)
        r.post("/internal/v1/systems/{system}/broadcast", self.internal_broadcast)
        self.extra(r)
        r.get(openapi.OPENAPI_PATH, openapi.handler(lambda: self.node.systems))  # public
        return r

    def admit_invoke(self, request: Request) -> Reply | None:
        """The invoke route's checks from the request line and headers alone: names, flags,
        admission (429 past --max-inflight or a full mailbox). A refusal reads no body."""
        mi = request.match_info
        system = self._checked(mi["system"], "system")
        actor = self._checked(mi["actor"], "actor")
        action = self._checked(mi["action"], "action")
        parent = run_async = None
        if request.query_string:
            parent = request.query.get("parent")
            if parent is not None:
                self._checked(parent, "parent template")
            run_async = _flag(request, "async")
        self.node.admit(system, actor, action, parent)
        request.state = (system, actor, action, parent, run_async)
        return None

    def admit(self, request: Request) -> Reply | None:
        """A forwarded call is admitted (or refused 429) before its body is read too."""
        mi = request.match_info
        self.node.admit(mi["system"], mi["actor"], mi["action"], request.query.get("parent"))
        return None

    def _traced(self, method: str, route: str, handler: RouteHandler) -> RouteHandler:
        """`handler` in a server span: `traceparent` in from the request, out on the reply."""

        async def traced(request: Request) -> Reply:
            with self.node.tracing.server_span(
                request.headers, method, route, request.path
            ) as span:
                try:
                    reply = await handler(request)
                except RoostError as exc:
                    reply = error_response(exc)
                reply.headers = {**(reply.headers or {}), "traceparent": span.done(reply.status)}
                return reply

        return traced

    async def invoke(self, request: Request) -> Reply:
        system, actor, action, parent, run_async = request.state
        node = self.node
        q = request.query
        later = bool(q) and ("delay_ms" in q or "scheduled_to" in q)
        # a call answered now carries its body undecoded to wherever it runs; an async or
        # scheduled one is decoded here, so that bad JSON is a 400, not a 202 that fails later
        payload = await read_payload(request, self.max_body, lazy=not (run_async or later))
        h = request.headers
        metadata = parse_metadata(h.get("x-roost-metadata"))
        timeout = parse_timeout(h.get("x-roost-timeout-ms"))
        if later:
            delay_ms, at_ms = _int_param(request, "delay_ms"), _int_param(request, "scheduled_to")
            if delay_ms is not None or at_ms is not None:
                sid = await node.schedule(
                    actor, action, payload, system=system, parent=parent, metadata=metadata,
                    delay_ms=delay_ms, at_ms=at_ms,
                )  # fmt: skip
                return json_response({"scheduled": sid}, status=202)
        if run_async:
            node.check_invocable(system, actor, action, parent)  # a 202 hides no 403/404
            node.background(
                node.invoke(  # admitted above: shedding it now would hide a 429 behind the 202
                    actor, action, payload, system=system, parent=parent, metadata=metadata,
                    admitted=True,
                ),
                f"async {system}/{actor}.{action}",
            )  # fmt: skip
            return Reply(202, ACCEPTED)
        reply = await node.invoke(
            actor,
            action,
            payload,
            system=system,
            parent=parent,
            metadata=metadata,
            timeout=timeout,
        )  # fmt: skip (admitted again: others may have been admitted while the body arrived)
        return reply_response(request, reply)

    async def spawn(self, request: Request) -> Reply:
        system = _name(request.match_info["system"], "system")
        actor = _name(request.match_info["actor"], "actor")
        body = await read_payload(request, self.max_body)
        if not isinstance(body, dict) or not isinstance(body.get("parent"), str):
            raise BadRequest('spawn body must be {"parent": "TEMPLATE"}')
        parent = _name(body["parent"], "parent template")
        await self.node.spawn(system, actor, parent)
        return json_response({"actor": actor, "parent": parent, "system": system})

    async def state(self, request: Request) -> Reply:
        system = self._checked(request.match_info["system"], "system")
        actor = self._checked(request.match_info["actor"], "actor")
        parent = request.query.get("parent") if request.query_string else None
        if parent is not None:
            _name(parent, "parent template")
        reply = await self.node.invoke(actor, "get_state", None, system=system, parent=parent)
        return json_response(reply)

    async def systems(self, request: Request) -> Reply:
        """The systems of this cluster (and the remote ones it reaches): who hosts each, its
        actor types and settings, and the actors active on this node per type."""
        node = self.node
        view = node.view()
        counts = node.counts_by_type()
        names = set(node.systems) | named_systems(view.members.values())
        schemas = schema_names(node.systems)  # as in the OpenAPI document
        out = []
        for name in sorted(names):
            types = node.systems.get(name)
            described = [t.describe(schemas) for t in types.all_types()] if types else []
            hosts = sorted(m.id for m in view.members.values() if m.alive and hosts_system(m, name))
            out.append(
                {
                    "name": name,
                    "members": hosts,
                    "hosted_here": types is not None,
                    "actor_types": described,
                    "active_here": {t: n for (s, t), n in sorted(counts.items()) if s == name},
                }
            )
        remote = node.remote_urls()
        return json_response(
            {
                "systems": out,
                "remote": [{"name": n, "url": u} for n, u in sorted(remote.items())],
            }
        )

    async def members(self, request: Request) -> Reply:
        view = self.node.view()
        members = [m.to_json() for m in sorted(view.members.values(), key=lambda m: m.id)]
        return json_response({"members": members, "version": view.version})

    async def owner(self, request: Request) -> Reply:
        system = request.query.get("system", self.node.default_system)
        actor = request.query.get("actor")
        if actor is None:
            raise BadRequest("query parameter actor is required")
        _name(system, "system")
        _name(actor, "actor")
        owner = self.node.owner(system, actor)
        view = self.node.view()
        if owner is None:
            if not any_host(view.members.values(), system):
                raise SystemNotFound(f"no member of this cluster hosts system {system!r}")
            raise Unavailable("no active member owns any actor right now")
        member = view.get(owner)
        return json_response({"owner": owner, "http": member.http if member else None})

    async def ring(self, request: Request) -> Reply:
        """What a client needs to compute owners itself (one entry per member, never a table of
        actors): the active members with their client-facing address and the systems they host
        (null: every system), the vnode count, the hash, and the version every reply carries in
        X-Roost-Ring-Version."""
        node = self.node
        ring, view = node.ring(), node.view()
        members = []
        for mid in ring.members:
            m = view.get(mid)
            members.append(
                {
                    "id": mid,
                    "http": m.http if m is not None else node.advertise_http,
                    "systems": None if m is None else systems_of(m),
                }
            )
        return json_response(
            {
                "version": node.ring_version(),
                "vnodes": ring.vnodes,
                "hash": ring.hash_name,
                "key": "{system}/{actor}",
                "members": members,
            }
        )

    def live(self, request: Request) -> Reply:
        return json_response({"status": "ok", "node": self.node.node_id})

    async def healthz(self, request: Request) -> Reply:
        return self.live(request)

    async def readyz(self, request: Request) -> Reply:
        await self.node.check_ready()
        return json_response({"status": "ready", "node": self.node.node_id})

    async def metrics(self, request: Request) -> Reply:
        body = await asyncio.get_running_loop().run_in_executor(None, self.node.render_metrics)
        return Reply(200, body, CONTENT_TYPE_LATEST)

    async def internal_invoke(self, request: Request) -> Reply:
        """A call forwarded by a peer: authenticated with the cluster secret, hop-counted."""
        try:
            body = await request.read()
            self.node.verify_internal(request.method, request.path_qs, body, request.headers)
            mi = request.match_info
            h = request.headers
            hops, timeout = forwarded_bounds(
                h.get("x-roost-hops", "1"), h.get("x-roost-timeout-ms", "30000")
            )
            caller = None
            if "x-roost-caller" in h:
                c = orjson.loads(h["x-roost-caller"])
                caller = ActorId(c["name"], c["system"], c.get("parent"))
            payload = parse_json_payload(body) if body else None
            reply = await self.node.invoke(
                mi["actor"],
                mi["action"],
                payload,
                system=mi["system"],
                parent=request.query.get("parent"),
                metadata=parse_metadata(h.get("x-roost-metadata")),
                caller=caller,
                hops=hops,
                timeout=timeout,
                dedupe=h.get("x-roost-dedupe"),
            )
            return reply_response(request, reply, internal=True)
        except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
            return error_response(BadRequest(f"malformed internal call: {exc}"))

    async def internal_broadcast(self, request: Request) -> Reply:
        """A peer's broadcast: deliver it to this node's active subscribers."""
        try:
            body = await request.read()
            self.node.verify_internal(request.method, request.path_qs, body, request.headers)
            data = orjson.loads(body)
            caller = ActorId(*data["caller"]) if data.get("caller") else None
            step = Broadcast(str(data["channel"]), data.get("payload"), data.get("action"))
            n = await self.node.deliver_broadcast(
                request.match_info["system"], step, data.get("metadata") or None, caller,
                str(data["id"]),
            )  # fmt: skip
            return json_response({"delivered": n})
        except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
            return error_response(BadRequest(f"malformed broadcast: {exc}"))
