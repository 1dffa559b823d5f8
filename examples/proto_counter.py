"""An actor whose state and payloads are protobuf messages.

Real projects generate their message classes with protoc; to stay free of a build step, this
example declares its two messages in code (`roost.examples.Tally`, `roost.examples.Add`), which
registers them exactly as a generated ``*_pb2`` module would.

Over HTTP: send ``application/protobuf`` with ``X-Roost-Type: roost.examples.Add``, or plain
JSON ``{"value": 3}`` (mapped through the message's JSON form); ``Accept: application/protobuf``
returns the reply as bytes.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from roost import Actor, Context, Value, action


def _messages() -> tuple[type, type]:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("roost/examples/proto_counter.proto")
    except KeyError:
        f = descriptor_pb2.FileDescriptorProto(
            name="roost/examples/proto_counter.proto", package="roost.examples", syntax="proto3"
        )
        int64 = descriptor_pb2.FieldDescriptorProto.TYPE_INT64
        optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
        for name, field in (("Tally", "total"), ("Add", "value")):
            msg = f.message_type.add(name=name)
            msg.field.add(name=field, number=1, type=int64, label=optional)
        pool.Add(f)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("roost.examples.Tally")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("roost.examples.Add")),
    )


TallyMsg, AddMsg = _messages()


class ProtoCounter(Actor):
    name = "proto-counter"
    state_type = TallyMsg
    durability = "sync"

    @action
    async def add(self, payload: AddMsg, ctx: Context) -> Value:  # type: ignore[valid-type]
        state = TallyMsg(total=(ctx.state.total if ctx.state is not None else 0) + payload.value)
        return Value().state(state).response(state)
