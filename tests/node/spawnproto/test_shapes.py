"""Protocol 1.1 registrations (one channel name) and current ones (Channel messages), told apart
on the wire and mapped to one model; anything else is a 400 naming the field."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError

from roost.errors import BadRequest
from roost.node.spawnproto import actor_pb2 as A
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.shapes import SHAPE_1_1, SHAPE_CURRENT, normalize
from tests.node.spawnproto.messages import JSON_TYPE_1X, _ld, actor, registration_1_1


def bare(name: str) -> A.Actor:
    a = A.Actor()
    a.id.name, a.id.system = name, "spawn-system"
    a.settings.kind, a.settings.stateful = A.NAMED, True
    a.actions.add(name="receive")
    return a


def test_a_1_1_channel_name_becomes_one_channel() -> None:
    body = registration_1_1("spawn-system", {"joe": (bare("joe"), "spawn-python")})
    with pytest.raises(DecodeError):  # what the current schema alone makes of it
        P.RegistrationRequest.FromString(body)
    out, shape = normalize(body)
    assert shape == SHAPE_1_1
    reg = P.RegistrationRequest.FromString(out)
    joe = reg.actor_system.registry.actors["joe"]
    assert [(c.topic, c.action) for c in joe.metadata.channel_group] == [("spawn-python", "")]
    assert joe.actions[0].name == "receive" and joe.settings.stateful
    assert reg.service_info.protocol_minor_version == 1


def test_a_current_registration_is_left_byte_for_byte() -> None:
    reg = P.RegistrationRequest()
    reg.actor_system.name = "spawn-system"
    reg.actor_system.registry.actors["js-counter"].CopyFrom(actor(JSON_TYPE_1X))
    body = reg.SerializeToString()
    assert normalize(body) == (body, SHAPE_CURRENT)


def test_no_channels_at_all() -> None:
    body = registration_1_1("spawn-system", {"joe": (bare("joe"), None)})
    assert normalize(body) == (body, None)


def test_neither_shape_is_a_400_naming_the_actor_and_field() -> None:
    a = bare("joe").SerializeToString() + _ld(6, b"\x08\x01")  # channel_group: a varint
    body = _ld(2, _ld(1, b"spawn-system") + _ld(2, _ld(1, _ld(1, b"joe") + _ld(2, a))))
    with pytest.raises(BadRequest) as e:
        normalize(body)
    assert "'joe'" in e.value.message and "Metadata.channel_group" in e.value.message


def test_mixing_the_shapes_is_a_400() -> None:
    current = bare("ann")
    current.metadata.channel_group.add(topic="news")
    body = registration_1_1("spawn-system", {"joe": (bare("joe"), "news"), "ann": (current, None)})
    with pytest.raises(BadRequest, match="one registration uses one shape"):
        normalize(body)


def test_malformed_bytes_are_left_to_the_parser() -> None:
    assert normalize(b"\x12\xff") == (b"\x12\xff", None)


def test_a_1_1_broadcast_names_the_action_subscribers_run() -> None:
    from roost.node.spawnproto.external import to_value

    reply = P.ActorInvocationResponse()
    reply.workflow.broadcast.channel_group = "news"
    reply.workflow.broadcast.action_name = "on_news"
    reply.workflow.broadcast.noop.SetInParent()
    step = to_value(reply, A.ActorState(), stateful=True, where="t").broadcast_step
    assert step is not None and (step.channel, step.action) == ("news", "on_news")
    reply.workflow.broadcast.ClearField("action_name")  # the current shape: their own action
    step = to_value(reply, A.ActorState(), stateful=True, where="t").broadcast_step
    assert step is not None and step.action is None
