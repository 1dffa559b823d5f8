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
from aiohttp import hdrs, web
from google.protobuf.message import Message
from prometheus_client import CONTENT_TYPE_LATEST

from roost.errors import (
    BadRequest,
    Internal,
    PayloadTooLarge,
    RoostError,
    SystemNotFound,
    Unavailable,
    UnsupportedMediaType,
)
from roost.node import openapi
from roost.node.apiauth import ApiAuth
from roost.node.status import StatusApi
from roost.placement.router import SYSTEMS_TAG, hosts_system
from roost.requestctx import HEADER as REQUEST_ID
from roost.requestctx import RequestInfo, accept_id, current
from roost.sdk.actor import valid_name
from roost.sdk.context import ActorId
from roost.sdk.state import encode_json, message_from, parse_json_payload
from roost.sdk.workflow import Broadcast

if TYPE_CHECKING:
    from roost.node.node import Node

log = logging.getLogger("roost.http")

JSON = "application/json"
MAX_BODY = web.AppKey("max_body", int)
API_AUTH: web.AppKey[ApiAuth | None] = web.AppKey("api_auth")  # None: no token needed
# True once a draining node closed its listener: every answer then closes its connection
CLOSING: web.AppKey[Callable[[], bool]] = web.AppKey("closing")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(exc: RoostError) -> web.Response:
    if exc.status >= 500:  # 503s come in floods during drains and outages: debug only
        log.log(logging.DEBUG if exc.status == 503 else logging.WARNING, "%s", exc.message)
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    resp = web.Response(
        status=exc.status, body=orjson.dumps(exc.to_json()), content_type=JSON, headers=headers
    )
    if exc.details.get("close"):  # the request left the connection unusable (unreadable body)
        resp.force_close()
    return resp


def json_response(data: Any, status: int = 200) -> web.Response:
    try:
        body = encode_json(data)
    except (TypeError, ValueError):
        body = _encode_reply(data)
    return web.Response(status=status, body=body, content_type=JSON)


def _encode_reply(data: Any) -> bytes:
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import Message

    if isinstance(data, Message):
        return orjson.dumps(MessageToDict(data))
    raise Internal(f"the action's reply is not JSON-serialisable: {type(data).__name__}")


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


@web.middleware
async def _request(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Per request: the context that log lines and forwarded calls carry (the id from
    `X-Request-Id`, or a new one, echoed in the response), and aiohttp's own errors turned into
    our JSON. One middleware and no inner coroutine: each would cost a call per request."""
    rid = accept_id(request.headers.get(REQUEST_ID))
    mi = request.match_info
    token = current.set(RequestInfo(rid, mi.get("system"), mi.get("actor")))
    try:
        auth = request.app[API_AUTH]
        refused = None if auth is None else _refused(request, auth)
        resp = await handler(request) if refused is None else refused
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        resp = _http_error(request, exc)
    finally:
        current.reset(token)
    if not resp.prepared:
        resp.headers[REQUEST_ID] = rid
    if request.app[CLOSING]():
        # A draining node whose listener is closed answers with `Connection: close`: a
        # keep-alive client (or a peer's connection pool) would otherwise keep sending here on
        # its open connection, and the drain would wait on a stream of calls that never ends.
        resp.force_close()
    return resp


def _refused(request: web.Request, auth: ApiAuth) -> web.Response | None:
    """The 401 for a request without a valid API token (ROOST_API_TOKENS), else None."""
    resource = request.match_info.route.resource
    route = None if resource is None else resource.canonical
    denied = auth.refuse(route, request.headers.get(hdrs.AUTHORIZATION))
    if denied is None:
        return None
    resp = error_response(denied)
    resp.headers[hdrs.WWW_AUTHENTICATE] = denied.details["challenge"]
    return resp


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (no such route, wrong method, body too large) as our JSON."""
    code = _HTTP_CODES.get(exc.status, "bad_request" if exc.status < 500 else "internal")
    if exc.status == 413:
        return error_response(PayloadTooLarge(f"body larger than {request.app[MAX_BODY]} bytes"))
    body = {"error": {"code": code, "message": f"{exc.reason}: {request.method} {request.path}"}}
    return web.Response(
        status=exc.status,
        body=orjson.dumps(body),
        content_type=JSON,
        headers={k: v for k, v in exc.headers.items() if k == "Allow"},
    )


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


def _int_param(request: web.Request, name: str) -> int | None:
    if not request.query_string:
        return None
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name}={raw[:40]!r} must be an integer") from None


def _flag(request: web.Request, name: str) -> bool:
    v = request.query.get(name)
    if v is None:
        return False
    if v.lower() in ("true", "1", "yes", ""):
        return True
    if v.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"query parameter {name}={v!r} must be true or false")


PROTOBUF = ("application/protobuf", "application/x-protobuf")


async def read_payload(request: web.Request, max_body: int) -> Any:
    """The payload of a request: JSON, or a protobuf message (``application/protobuf`` with
    ``X-Roost-Type`` naming it); None for an empty body."""
    length = request.content_length
    if length is not None and length > max_body:
        raise PayloadTooLarge(f"body of {length} bytes exceeds the limit of {max_body} bytes")
    ctype = request.headers.get("Content-Type")
    mime = "" if ctype is None else ctype.split(";", 1)[0].strip().lower()
    proto = mime in PROTOBUF
    if mime and not proto and mime != JSON and not mime.endswith("+json"):
        if length == 0:
            return None
        raise UnsupportedMediaType(
            f"Content-Type {mime!r} is not supported; send {JSON} or application/protobuf"
        )
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(f"body exceeds the limit of {max_body} bytes") from exc
    except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a body that is not
        request.content.feed_eof()  # the rest is unreadable: aiohttp must not try to drain it
        why = getattr(exc.__cause__, "message", None) or str(exc)
        raise BadRequest(f"request body could not be read: {why}", close=True) from exc
    if proto:
        return parse_protobuf(body, request.headers.get("X-Roost-Type"))
    if not body or body.isspace():
        return None
    return parse_json_payload(body)


def parse_protobuf(body: bytes, type_name: str | None) -> Any:
    if not type_name:
        raise BadRequest("application/protobuf needs X-Roost-Type naming the message type")
    return message_from(type_name, body)


def reply_response(request: web.Request, reply: Any, *, internal: bool = False) -> web.Response:
    """The reply as JSON, or as protobuf bytes when the caller accepts it (peers always do) and
    it is a message."""
    accept = request.headers.get("Accept", "")
    if isinstance(reply, Message) and (internal or any(p in accept for p in PROTOBUF)):
        return web.Response(
            body=reply.SerializeToString(),
            content_type="application/protobuf",
            headers={"X-Roost-Type": reply.DESCRIPTOR.full_name},
        )
    return json_response(reply)


class HttpApi:
    """Routes of one node. Holds no state of its own beyond the node reference."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.max_body = node.config.max_body
        self._good: set[str] = set()  # names validated before: a set hit is cheaper than a regex

    def _checked(self, value: str, what: str) -> str:
        if value in self._good:
            return value
        _name(value, what)
        if len(self._good) >= GOOD_NAMES_MAX:
            self._good.clear()
        self._good.add(value)
        return value

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body, middlewares=[_request])
        app[MAX_BODY] = self.max_body
        app[API_AUTH] = self.node.api_auth
        node = self.node
        app[CLOSING] = lambda: node.closing
        r = app.router
        base = "/v1/systems/{system}/actors/{actor}"
        r.add_post(base + "/actions/{action}", self.invoke)
        r.add_post(base + "/spawn", self.spawn)
        r.add_get(base + "/state", self.state)
        r.add_get("/v1/systems", self.systems)
        r.add_get("/v1/cluster/members", self.members)
        r.add_get("/v1/cluster/owner", self.owner)
        r.add_get("/healthz", self.healthz)
        r.add_get("/readyz", self.readyz)
        r.add_get("/metrics", self.metrics)
        r.add_post("/internal" + base + "/actions/{action}", self.internal_invoke)
        r.add_post("/internal/v1/systems/{system}/broadcast", self.internal_broadcast)
        StatusApi(self.node).add_routes(r)  # the cluster page and its JSON
        r.add_get(openapi.OPENAPI_PATH, openapi.handler())  # public, like /healthz
        return app

    async def invoke(self, request: web.Request) -> web.Response:
        try:
            mi = request.match_info
            system = self._checked(mi["system"], "system")
            actor = self._checked(mi["actor"], "actor")
            action = self._checked(mi["action"], "action")
            parent = request.query.get("parent") if request.query_string else None
            if parent is not None:
                _name(parent, "parent template")
            run_async = _flag(request, "async") if request.query_string else False
            node = self.node
            node.admit(system, actor, action, parent)  # shed before the body: a 429 costs little
            payload = await read_payload(request, self.max_body)
            metadata = parse_metadata(request.headers.get("X-Roost-Metadata"))
            timeout = parse_timeout(request.headers.get("X-Roost-Timeout-Ms"))
            delay_ms, at_ms = _int_param(request, "delay_ms"), _int_param(request, "scheduled_to")
            if delay_ms is not None or at_ms is not None:
                sid = await node.core.schedule(
                    actor, action, payload, system=system, parent=parent, metadata=metadata,
                    delay_ms=delay_ms, at_ms=at_ms,
                )  # fmt: skip
                return json_response({"scheduled": sid}, status=202)
            if run_async:
                node.check_invocable(system, actor, action, parent)  # a 202 hides no 403/404
                node.background(
                    node.invoke(  # admitted above: shedding it now would hide a 429 behind the 202
                        actor,
                        action,
                        payload,
                        system=system,
                        parent=parent,
                        metadata=metadata,
                        admitted=True,
                    ),
                    f"async {system}/{actor}.{action}",
                )
                return web.Response(status=202, body=b'{"accepted":true}', content_type=JSON)
            reply = await node.invoke(
                actor,
                action,
                payload,
                system=system,
                parent=parent,
                metadata=metadata,
                timeout=timeout,
            )
            return reply_response(request, reply)
        except RoostError as exc:
            return error_response(exc)

    async def spawn(self, request: web.Request) -> web.Response:
        try:
            system = _name(request.match_info["system"], "system")
            actor = _name(request.match_info["actor"], "actor")
            body = await read_payload(request, self.max_body)
            if not isinstance(body, dict) or not isinstance(body.get("parent"), str):
                raise BadRequest('spawn body must be {"parent": "TEMPLATE"}')
            parent = _name(body["parent"], "parent template")
            await self.node.core.spawn(system, actor, parent)
            return json_response({"actor": actor, "parent": parent, "system": system})
        except RoostError as exc:
            return error_response(exc)

    async def state(self, request: web.Request) -> web.Response:
        try:
            system = _name(request.match_info["system"], "system")
            actor = _name(request.match_info["actor"], "actor")
            parent = request.query.get("parent")
            if parent is not None:
                _name(parent, "parent template")
            reply = await self.node.invoke(actor, "get_state", None, system=system, parent=parent)
            return json_response(reply)
        except RoostError as exc:
            return error_response(exc)

    async def systems(self, request: web.Request) -> web.Response:
        """The systems of this cluster (and the remote ones it reaches): who hosts each, its
        actor types and settings, and the actors active on this node per type."""
        node = self.node
        view = node.membership.view
        counts = node.core.runtime.counts_by_type()
        names = set(node.systems)
        for m in view.members.values():
            tag = m.tags.get(SYSTEMS_TAG)
            if tag and m.alive:
                names.update(tag.split(","))
        out = []
        for name in sorted(names):
            types = node.systems.get(name)
            hosts = sorted(m.id for m in view.members.values() if m.alive and hosts_system(m, name))
            out.append(
                {
                    "name": name,
                    "members": hosts,
                    "hosted_here": types is not None,
                    "actor_types": [t.describe() for t in types.all_types()] if types else [],
                    "active_here": {t: n for (s, t), n in sorted(counts.items()) if s == name},
                }
            )
        remote = node.remote.urls if node.remote is not None else {}
        return json_response(
            {
                "systems": out,
                "remote": [{"name": n, "url": u} for n, u in sorted(remote.items())],
            }
        )

    async def members(self, request: web.Request) -> web.Response:
        view = self.node.membership.view
        members = [m.to_json() for m in sorted(view.members.values(), key=lambda m: m.id)]
        return json_response({"members": members, "version": view.version})

    async def owner(self, request: web.Request) -> web.Response:
        try:
            system = request.query.get("system", self.node.config.system)
            actor = request.query.get("actor")
            if actor is None:
                raise BadRequest("query parameter actor is required")
            _name(system, "system")
            _name(actor, "actor")
            owner = self.node.core.router.owner(system, actor)
            view = self.node.membership.view
            if owner is None:
                if not any(m.alive and hosts_system(m, system) for m in view.members.values()):
                    raise SystemNotFound(f"no member of this cluster hosts system {system!r}")
                raise Unavailable("no active member owns any actor right now")
            member = view.get(owner)
            return json_response({"owner": owner, "http": member.http if member else None})
        except RoostError as exc:
            return error_response(exc)

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok", "node": self.node.config.node_id})

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            await self.node.check_ready()
        except RoostError as exc:
            return error_response(exc)
        return json_response({"status": "ready", "node": self.node.config.node_id})

    async def metrics(self, request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, self.node.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def internal_invoke(self, request: web.Request) -> web.Response:
        """A call forwarded by a peer: authenticated with the cluster secret, hop-counted."""
        try:
            body = await request.read()
            self.node.verify_internal(request.method, request.path_qs, body, request.headers)
            mi = request.match_info
            h = request.headers
            try:
                hops = int(h.get("X-Roost-Hops", "1"))
                timeout = float(h.get("X-Roost-Timeout-Ms", "30000")) / 1000.0
            except ValueError as exc:
                raise BadRequest(f"bad internal routing header: {exc}") from exc
            caller = None
            if "X-Roost-Caller" in h:
                c = orjson.loads(h["X-Roost-Caller"])
                caller = ActorId(c["name"], c["system"], c.get("parent"))
            payload = parse_json_payload(body) if body else None
            reply = await self.node.invoke(
                mi["actor"],
                mi["action"],
                payload,
                system=mi["system"],
                parent=request.query.get("parent"),
                metadata=parse_metadata(h.get("X-Roost-Metadata")),
                caller=caller,
                hops=hops,
                timeout=timeout,
                dedupe=h.get("X-Roost-Dedupe"),
            )
            return reply_response(request, reply, internal=True)
        except RoostError as exc:
            return error_response(exc)
        except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
            return error_response(BadRequest(f"malformed internal call: {exc}"))

    async def internal_broadcast(self, request: web.Request) -> web.Response:
        """A peer's broadcast: deliver it to this node's active subscribers."""
        try:
            body = await request.read()
            self.node.verify_internal(request.method, request.path_qs, body, request.headers)
            data = orjson.loads(body)
            caller = ActorId(*data["caller"]) if data.get("caller") else None
            step = Broadcast(str(data["channel"]), data.get("payload"), data.get("action"))
            n = await self.node.core.runtime.deliver_local(
                request.match_info["system"], step, data.get("metadata") or None, caller,
                str(data["id"]),
            )  # fmt: skip
            return json_response({"delivered": n})
        except RoostError as exc:
            return error_response(exc)
        except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
            return error_response(BadRequest(f"malformed broadcast: {exc}"))
