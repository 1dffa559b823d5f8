"""State codecs: how an actor's state (and payloads) become bytes and back.

``state_type = "json"`` uses `JsonCodec`; a protobuf message class uses `ProtobufCodec`. The runtime
only sees the `StateCodec` protocol, so other encodings plug in without touching it.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import orjson
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from roost.errors import BadRequest


class StateCodec(Protocol):
    """Turns a state value into bytes and back. `encode` raises TypeError/ValueError on values it
    cannot represent; `decode` raises ValueError on bytes it cannot read."""

    name: str

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


def _proto_default(value: Any) -> Any:
    if isinstance(value, Message):  # a protobuf message travels as its JSON form
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_json(value: Any) -> bytes:
    """JSON bytes for any JSON value (protobuf messages as their JSON form); refuses NaN and
    infinities (orjson would write them as null, silently changing the value) and falls back to
    the standard library for what orjson cannot represent (integers beyond 64 bits, non-string
    keys)."""
    try:
        out = orjson.dumps(value, default=_proto_default)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(
            value, allow_nan=False, separators=(",", ":"), default=_proto_default
        ).encode()
    if b"null" in out:  # maybe a NaN/inf turned into null: let the strict encoder judge
        json.dumps(value, allow_nan=False, default=_proto_default)
    return out


class JsonCodec:
    """JSON via `encode_json`; any JSON value round-trips exactly."""

    name = "json"

    def encode(self, value: Any) -> bytes:
        # orjson hands back bytes over-allocated to ~4 KiB; state is kept for the activation's
        # life, so keep an exact-size copy (0.1 us) instead of 4 KiB per idle actor.
        return memoryview(encode_json(value)).tobytes()

    def decode(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data)


class ProtobufCodec:
    """A protobuf message class as the state type: the state is an instance of that class."""

    def __init__(self, message_type: type[Message]) -> None:
        self.message_type = message_type
        self.name = message_type.DESCRIPTOR.full_name

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, self.message_type):
            raise TypeError(f"state must be a {self.name}, got {type(value).__name__}")
        return bytes(value.SerializeToString(deterministic=True))

    def decode(self, data: bytes) -> Any:
        msg = self.message_type()
        try:
            msg.ParseFromString(data)
        except DecodeError as exc:
            raise ValueError(f"not a valid {self.name}: {exc}") from exc
        return msg


JSON = JsonCodec()


def codec_for(state_type: object) -> StateCodec:
    """The codec for an actor's declared `state_type`, or a TypeError saying what is allowed."""
    if state_type == "json":
        return JSON
    if isinstance(state_type, type) and issubclass(state_type, Message):
        return ProtobufCodec(state_type)
    raise TypeError(f'state_type must be "json" or a protobuf message class, got {state_type!r}')


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def parse_json_payload(body: bytes) -> Any:
    """Strict JSON for request bodies: NaN/Infinity and trailing garbage are refused with 400."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        first = exc
    try:  # integers beyond 64 bits are valid JSON that orjson refuses
        return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise BadRequest(f"malformed JSON body: {first}") from first


def coerce_payload(payload: Any, message_type: type[Message]) -> Message:
    """A payload for an action that takes a protobuf message: the message itself, its JSON form
    (a dict, as forwarded or sent as JSON) or its bytes. Anything else is a 400."""
    if isinstance(payload, message_type):
        return payload
    name = message_type.DESCRIPTOR.full_name
    if isinstance(payload, Message):
        raise BadRequest(f"payload is a {payload.DESCRIPTOR.full_name}, this action takes {name}")
    msg = message_type()
    try:
        if isinstance(payload, dict):
            json_format.ParseDict(payload, msg)
        elif isinstance(payload, bytes):
            msg.ParseFromString(payload)
        else:
            raise BadRequest(f"payload must be a {name} (as JSON object or bytes)")
    except (json_format.ParseError, DecodeError) as exc:
        raise BadRequest(f"payload is not a valid {name}: {exc}") from exc
    return msg


def message_from(type_name: str, data: bytes) -> Message:
    """Parse `data` as the protobuf message type named `type_name` (full name), which must be
    known in this process (its generated module imported). BadRequest otherwise."""
    try:
        desc = descriptor_pool.Default().FindMessageTypeByName(type_name)
    except KeyError:
        raise BadRequest(f"message type {type_name[:200]!r} is not known here") from None
    msg = message_factory.GetMessageClass(desc)()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise BadRequest(f"not a valid {type_name}: {exc}") from exc
    return msg
