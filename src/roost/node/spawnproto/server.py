"""The protocol listener's routes (Spawn's proxy API), protobuf in and out.

    POST /api/v1/system                                 RegistrationRequest -> RegistrationResponse
    POST /api/v1/system/{system}/actors/spawn           SpawnRequest -> SpawnResponse
    POST /api/v1/system/{system}/actors/{actor}/invoke  InvocationRequest -> InvocationResponse

Every answer carries a `RequestStatus`: OK (200); ACTOR_NOT_FOUND (404); ERROR with the reason
for bad input (400, never 500; 413 over --max-body; 415 for a JSON, text or form body), a
failed action (500), an unreachable owner or host (503 with Retry-After), a deadline (504).
`status_of` is the one place an error becomes a status.

ROOST_API_TOKENS do not apply here: Spawn's SDKs send no credentials, so this port is for actor
hosts on a trusted network (bind it accordingly, or `--proxy-http off`). The ACL policies do:
every invoke and spawn is checked, with the caller the request names (403, ERROR).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from google.protobuf.message import Message

from roost.errors import (
    ActorNotFound,
    BadRequest,
    PayloadTooLarge,
    RoostError,
    SystemNotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.external import host_actor
from roost.node.spawnproto.shapes import normalize
from roost.node.spawnproto.wire import (
    JSON_TYPE_1X,
    PROTOBUF,
    any_to_json,
    carried,
    is_json_type,
    parse,
    to_any,
)
from roost.sdk.actor import ActorType, valid_name
from roost.sdk.context import ActorId

if TYPE_CHECKING:
    from roost.node.spawnproto.service import SpawnProtocol

log = logging.getLogger("roost.spawnproto")

R = TypeVar("R", bound=Message)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROXY_NAME = "roost"
HOST_PORT_HEADER = "X-Roost-Actor-Host-Port"  # Roost SDKs say where they serve; Spawn's don't
# Media types that are certainly not a protobuf body. Anything else is read as one: Spawn's SDKs
# send application/octet-stream, but nothing in the protocol pins the type down.
_NOT_PROTOBUF = ("application/json", "application/x-www-form-urlencoded", "multipart/", "text/")


def status_of(exc: RoostError) -> tuple[int, int]:
    if isinstance(exc, ActorNotFound | SystemNotFound):
        return 404, P.ACTOR_NOT_FOUND
    return exc.status, P.ERROR


def reply(
    msg: Message, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=msg.SerializeToString(), content_type=PROTOBUF, headers=headers
    )


def failure(cls: type[R], exc: RoostError) -> web.Response:
    http, code = status_of(exc)
    msg = cls()
    status = msg.status  # type: ignore[attr-defined]
    status.status = code
    status.message = exc.message
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(max(1, round(retry)))} if retry is not None else None
    return reply(msg, http, headers)


_REPLIES: dict[str, type[Message]] = {
    "/api/v1/system": P.RegistrationResponse,
    "/api/v1/system/{system}/actors/spawn": P.SpawnResponse,
}


@web.middleware
async def _loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse callers that are not on this machine (see `ProtocolApi.app`)."""
    remote = request.remote or ""
    if remote.startswith("127.") or remote in ("::1", "localhost"):
        return await handler(request)
    resource = request.match_info.route.resource
    cls = _REPLIES.get(resource.canonical if resource is not None else "", P.InvocationResponse)
    return failure(
        cls,
        Unauthorized(
            "with ROOST_API_TOKENS set, the Spawn protocol port serves only actor hosts on the "
            f"node's own machine; {remote or 'this caller'} is not (Spawn SDKs send no token)"
        ),
    )


def _name(value: str, what: str) -> str:
    if not valid_name(value):
        raise BadRequest(f"{what} name {value[:300]!r} is not valid (1-255 characters, no '/')")
    return value


class ProtocolApi:
    def __init__(self, service: SpawnProtocol) -> None:
        self.service = service
        self.node = service.node

    def app(self) -> web.Application:
        # Spawn SDKs send no token. With ROOST_API_TOKENS set, a port that takes none would open
        # every actor to anyone, and let them name any caller to the ACLs: it then serves only
        # actor hosts on this machine (a pod's sidecars), which are as trusted as the node.
        local_only = [_loopback_only] if self.node.api_auth is not None else []
        app = web.Application(client_max_size=self.node.config.max_body, middlewares=local_only)
        r = app.router
        r.add_post("/api/v1/system", self.register)
        r.add_post("/api/v1/system/{system}/actors/spawn", self.spawn)
        r.add_post("/api/v1/system/{system}/actors/{actor}/invoke", self.invoke)
        return app

    async def _body(self, request: web.Request) -> bytes:
        mime = request.content_type  # application/octet-stream when the header is missing
        if mime.startswith(_NOT_PROTOBUF) or mime.endswith("+json"):
            raise UnsupportedMediaType(
                f"Content-Type {mime!r}: the body must be protobuf ({PROTOBUF})"
            )
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise PayloadTooLarge(f"body exceeds {self.node.config.max_body} bytes") from exc

    async def register(self, request: web.Request) -> web.Response:
        try:
            body, _shape = normalize(await self._body(request))  # protocol 1.1 channels too
            req = parse(P.RegistrationRequest, body)
            url = self.service.callback_url(request.remote, request.headers.get(HOST_PORT_HEADER))
            await self.service.register(req, url)
        except RoostError as exc:
            return failure(P.RegistrationResponse, exc)
        info = req.service_info
        out = P.RegistrationResponse()
        out.status.status = P.OK
        out.status.message = "Accepted"
        out.proxy_info.protocol_major_version = max(1, info.protocol_major_version)
        out.proxy_info.protocol_minor_version = info.protocol_minor_version
        out.proxy_info.proxy_name = PROXY_NAME
        out.proxy_info.proxy_version = self.service.version
        return reply(out)

    async def spawn(self, request: web.Request) -> web.Response:
        try:
            req = parse(P.SpawnRequest, await self._body(request))
            path_system = _name(request.match_info["system"], "system")
            if not req.actors:
                raise BadRequest("SpawnRequest names no actor to spawn")
            for aid in req.actors:
                if not aid.parent:
                    raise BadRequest(f"actor {aid.name!r} to spawn needs its parent template")
                system = _name(aid.system or path_system, "system")
                await self.node.core.spawn(system, _name(aid.name, "actor"), aid.parent)
        except RoostError as exc:
            return failure(P.SpawnResponse, exc)
        out = P.SpawnResponse()
        out.status.status = P.OK
        return reply(out)

    async def invoke(self, request: web.Request) -> web.Response:
        try:
            req = parse(P.InvocationRequest, await self._body(request))
            system = _name(req.system.name or request.match_info["system"], "system")
            actor = _name(req.actor.id.name or request.match_info["actor"], "actor")
            action = _name(req.action_name, "action")
            parent = req.register_ref or req.actor.id.parent or None
            if parent is not None:
                _name(parent, "parent template")
            caller = _caller(req)
            # ACLs before any branch: an async or scheduled call must not be accepted, then refused
            self.node.core.authorize(system, actor, action, caller)
            target = self._target(system, actor, parent)
            payload = self._payload(req, target)
            call = (actor, action, payload, system, parent, dict(req.metadata), caller)
            result: Any = None
            deferred = True  # answered before the call runs: no payload at all (Spawn's `nil`)
            if req.scheduled_to > time.time() * 1000:  # kept in the store, fired by the owner
                await self.node.core.schedule(
                    actor, action, payload, system=system, parent=parent,
                    metadata=call[5], caller=caller, at_ms=req.scheduled_to,
                )  # fmt: skip
            elif getattr(req, "async"):  # `async` is a Python keyword
                self.node.admit(system, actor, action, parent)  # refused now, not after the OK
                self.node.background(self._later(*call), f"spawn async {system}/{actor}")
            else:
                deferred = False
                result = await self.node.invoke(
                    actor, action, payload, system=system, parent=parent,
                    metadata=call[5], caller=caller,
                )  # fmt: skip
            value = to_any(result, self._reply_url(req, caller, system, target))
        except RoostError as exc:
            return failure(P.InvocationResponse, exc)
        out = P.InvocationResponse()
        out.status.status = P.OK
        out.system.name = system
        out.actor.id.name, out.actor.id.system = actor, system
        out.actor.id.parent = parent or ""
        if value is not None:
            out.value.CopyFrom(value)
        elif not deferred:
            out.noop.SetInParent()  # a sync call that returned nothing
        return reply(out)

    def _target(self, system: str, actor: str, parent: str | None) -> ActorType | None:
        try:
            return self.node.core.runtime.resolve_static(system, actor, parent)
        except RoostError:
            return None  # the invocation itself says what is wrong

    @staticmethod
    def _payload(req: P.InvocationRequest, target: ActorType | None) -> Any:
        if req.WhichOneof("payload") != "value":
            return None
        if host_actor(target) is not None:
            return carried(req.value)  # to a host: the caller's Any, untouched
        try:
            return any_to_json(req.value)
        except ValueError as exc:
            raise BadRequest(f"payload: {exc}") from exc

    def _reply_url(
        self,
        req: P.InvocationRequest,
        caller: ActorId | None,
        system: str,
        target: ActorType | None,
    ) -> str:
        """The JSONType spelling the caller reads: the one it sent, else its host's, else the
        target host's, else 1.x (what the published Node SDK reads)."""
        if req.WhichOneof("payload") == "value" and is_json_type(req.value.type_url):
            return req.value.type_url
        reg = self.service.registry
        asked = [(system, target.name)] if target is not None else []
        if caller is not None:
            asked.insert(0, (caller.system, caller.parent or caller.name))
        for sys_name, actor_name in asked:
            hosts = reg.hosts_for(sys_name, actor_name)
            if hosts:
                return hosts[0].json_url
        return JSON_TYPE_1X

    async def _later(
        self,
        actor: str,
        action: str,
        payload: Any,
        system: str,
        parent: str | None,
        metadata: dict[str, str],
        caller: ActorId | None,
    ) -> None:
        try:
            await self.node.invoke(
                actor, action, payload, system=system, parent=parent, metadata=metadata,
                caller=caller, admitted=True,
            )  # fmt: skip
        except RoostError as exc:
            log.warning("async invocation %s/%s.%s failed: %s", system, actor, action, exc)


def _caller(req: P.InvocationRequest) -> ActorId | None:
    if not req.HasField("caller") or not req.caller.name:
        return None
    c = req.caller
    return ActorId(c.name, c.system or req.system.name, c.parent or None)
