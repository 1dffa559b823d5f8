"""One representative instance of every protocol message, shared by the golden tests (the
Node SDK's tests read the same bytes from golden.json)."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.protobuf.message import Message

from roost.node.spawnproto import actor_pb2 as A
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.wire import JSON_TYPE_1X, JSON_TYPE_2X, json_to_any

CUSTOM = any_pb2.Any(type_url="type.googleapis.com/example.Custom", value=b"\x08\x2a")


def actor_id() -> A.ActorId:
    return A.ActorId(name="js-counter", system="spawn-system", parent="counter")


def actor(url: str) -> A.Actor:
    a = A.Actor()
    a.id.name, a.id.system = "js-counter", "spawn-system"
    a.state.tags["team"] = "blue"
    a.state.state.CopyFrom(json_to_any({"total": 0}, url))
    s = a.settings
    s.kind, s.stateful = A.NAMED, True
    s.snapshot_strategy.timeout.timeout = 10_000
    s.deactivation_strategy.timeout.timeout = 30_000
    s.min_pool_size, s.max_pool_size = 1, 2
    a.actions.add(name="add")
    a.actions.add(name="init")
    t = a.timer_actions.add(seconds=1000)
    t.action.name = "tick"
    a.metadata.channel_group.add(topic="news", action="receive")
    a.metadata.tags["owner"] = "polyglot"
    return a


def messages(url: str) -> dict[str, Message]:
    """Every message, JSON values spelled with `url` (1.x or 2.x JSONType)."""
    reg = P.RegistrationRequest()
    i = reg.service_info
    i.service_name, i.service_version, i.service_runtime = "svc", "1.0.0", "node v20"
    i.support_library_name, i.support_library_version = "roost-spawn-sdk", "0.1.0"
    i.protocol_major_version = 2 if url == JSON_TYPE_2X else 1
    i.protocol_minor_version = 1
    reg.actor_system.name = "spawn-system"
    reg.actor_system.registry.actors["js-counter"].CopyFrom(actor(url))

    inv_req = P.InvocationRequest(action_name="add", scheduled_to=1_700_000_000_000)
    inv_req.system.name = "spawn-system"
    inv_req.actor.id.CopyFrom(actor_id())
    inv_req.value.CopyFrom(json_to_any({"value": 5}, url))
    setattr(inv_req, "async", True)
    inv_req.caller.CopyFrom(A.ActorId(name="relay", system="spawn-system"))
    inv_req.metadata["trace"] = "t-1"
    inv_req.pooled, inv_req.register_ref = True, "counter"

    inv_resp = P.InvocationResponse()
    inv_resp.status.status, inv_resp.status.message = P.OK, "ok"
    inv_resp.system.name = "spawn-system"
    inv_resp.actor.id.CopyFrom(actor_id())
    inv_resp.noop.SetInParent()

    call = P.ActorInvocation(action_name="add")
    call.actor.CopyFrom(actor_id())
    ctx = call.current_context
    ctx.state.CopyFrom(json_to_any({"total": 1}, url))
    ctx.caller.CopyFrom(A.ActorId(name="relay", system="spawn-system"))
    ctx.self.CopyFrom(actor_id())
    ctx.metadata["trace"] = "t-1"
    ctx.tags["team"] = "blue"
    call.value.CopyFrom(CUSTOM)
    call.caller.CopyFrom(ctx.caller)

    back = P.ActorInvocationResponse(actor_name="js-counter", actor_system="spawn-system")
    back.updated_context.state.CopyFrom(json_to_any({"total": 6}, url))
    back.updated_context.tags["team"] = "red"
    back.value.CopyFrom(json_to_any({"total": 6}, url))
    wf = back.workflow
    fx = wf.effects.add().request
    fx.system.name, fx.actor.id.name, fx.action_name = "spawn-system", "audit", "log"
    fx.value.CopyFrom(json_to_any({"total": 6}, url))
    wf.broadcast.channel_group = "news"
    wf.broadcast.noop.SetInParent()
    wf.pipe.actor, wf.pipe.action_name = "incrementor", "add"
    back.checkpoint = True

    fwd = P.Workflow()
    fwd.forward.actor, fwd.forward.action_name, fwd.forward.register_ref = "b", "get", "tpl"

    return {
        "ActorId": actor_id(),
        "Actor": actor(url),
        "ActorSystem": reg.actor_system,
        "Context": ctx,
        "JSONType": P.JSONType(content='{"total":6}'),
        "RegistrationRequest": reg,
        "RegistrationResponse": P.RegistrationResponse(
            status=P.RequestStatus(status=P.OK, message="Accepted"),
            proxy_info=P.ProxyInfo(
                protocol_major_version=1,
                protocol_minor_version=1,
                proxy_name="roost",
                proxy_version="0.1.0",
            ),
        ),
        "SpawnRequest": P.SpawnRequest(actors=[actor_id()]),
        "SpawnResponse": P.SpawnResponse(status=P.RequestStatus(status=P.ACTOR_NOT_FOUND)),
        "InvocationRequest": inv_req,
        "InvocationResponse": inv_resp,
        "ActorInvocation": call,
        "ActorInvocationResponse": back,
        "Workflow": fwd,
    }


SPELLINGS = {"1.x": JSON_TYPE_1X, "2.x": JSON_TYPE_2X}


def _ld(num: int, data: bytes) -> bytes:
    """One length-delimited field, encoded by hand (the 1.1 shape has no descriptor here)."""

    def varint(v: int) -> bytes:
        out = bytearray()
        while True:
            b, v = v & 0x7F, v >> 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return bytes(out)

    return varint(num << 3 | 2) + varint(len(data)) + data


def registration_1_1(
    system: str, actors: dict[str, tuple[A.Actor, str | None]], *, minor: int = 1
) -> bytes:
    """A RegistrationRequest as Spawn's Python SDK 0.1.2 encodes it: protocol 1.1, and
    `Metadata{string channel_group = 1}` (one channel name) where the current shape has
    repeated `Channel` messages. Each actor is given without metadata, plus its channel."""
    info = P.ServiceInfo(service_name="spawn-python-sdk", support_library_name="spawn-python-sdk")
    info.protocol_major_version, info.protocol_minor_version = 1, minor
    registry = b""
    for name, (a, channel) in actors.items():
        body = a.SerializeToString()
        if channel is not None:
            body += _ld(6, _ld(1, channel.encode()))  # Actor.metadata{channel_group: "..."}
        registry += _ld(1, _ld(1, name.encode()) + _ld(2, body))  # one map entry
    actor_system = _ld(1, system.encode()) + _ld(2, registry)
    return _ld(1, info.SerializeToString()) + _ld(2, actor_system)
