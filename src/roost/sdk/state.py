"""State codecs: how an actor's state (and payloads) become bytes and back.

``state_type = "json"`` uses `JsonCodec`; a protobuf message class uses `ProtobufCodec`; a
dataclass or pydantic model uses `TypedCodec` (stored as JSON, loaded into the class). The runtime
only sees the `StateCodec` protocol, so other encodings plug in without touching it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import orjson
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from roost.errors import BadRequest
from roost.sdk.shapes import Shape, ShapeError, is_pydantic_model, is_typed_class


class StateCodec(Protocol):
    """Turns a state value into bytes and back. `encode` raises TypeError/ValueError on values it
    cannot represent; `decode` raises ValueError on bytes it cannot read. `initial()` is the state
    of an actor that has none stored yet (None, or a fresh default instance of a typed state)."""

    name: str
    empty: bytes | None  # the encoded `initial()` state (None when that is None)

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...

    def initial(self) -> Any: ...


def _proto_default(value: Any) -> Any:
    """What orjson (and the stdlib fallback) cannot write itself, as JSON values."""
    if isinstance(value, Message):  # a protobuf message travels as its JSON form
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if is_pydantic_model(type(value)):
        from roost.sdk.pydantic_shape import dump_model

        return dump_model(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # (the stdlib path)
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_jsonable(value: Any) -> Any:
    """The JSON value `value` stands for (typed instances become dicts)."""
    return orjson.loads(encode_json(value))


def encode_json(value: Any) -> bytes:
    """JSON bytes for any JSON value (protobuf messages, dataclasses and pydantic models as their
    JSON form); refuses NaN and infinities (orjson would write them as null, silently changing
    the value) and falls back to the standard library for what orjson cannot represent (integers
    beyond 64 bits, non-string keys)."""
    try:
        out = orjson.dumps(value, default=_proto_default)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(
            value, allow_nan=False, separators=(",", ":"), default=_proto_default
        ).encode()
    if b"null" in out and _nonfinite(value, 0):  # maybe a NaN/inf turned into null
        raise ValueError("Out of range float values are not JSON compliant")
    return out


def _nonfinite(value: Any, depth: int) -> bool:
    """Whether a NaN or an infinity hides in `value` (what orjson writes as null)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if depth > 200:  # orjson refused deeper nesting already; nothing left to find
        return False
    if isinstance(value, dict):
        return any(_nonfinite(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_nonfinite(v, depth + 1) for v in value)
    if dataclasses.is_dataclass(value) or is_pydantic_model(type(value)):
        return any(_nonfinite(v, depth + 1) for v in vars(value).values())
    return False


class JsonCodec:
    """JSON via `encode_json`; any JSON value round-trips exactly."""

    name = "json"
    empty: bytes | None = None

    def encode(self, value: Any) -> bytes:
        # orjson hands back bytes over-allocated to ~4 KiB; state is kept for the activation's
        # life, so keep an exact-size copy (0.1 us) instead of 4 KiB per idle actor.
        return memoryview(encode_json(value)).tobytes()

    def decode(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data)

    def initial(self) -> Any:
        return None


class ProtobufCodec:
    """A protobuf message class as the state type: the state is an instance of that class."""

    def __init__(self, message_type: type[Message]) -> None:
        self.message_type = message_type
        self.name = message_type.DESCRIPTOR.full_name
        self.empty: bytes | None = None

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

    def initial(self) -> Any:
        return None


class TypedCodec:
    """A dataclass or pydantic model as the state type, stored as its JSON form. Loading is
    lenient about change: a stored field the class no longer has is dropped, a field added since
    (with a default) takes its default; anything else is a ValueError naming the field."""

    def __init__(self, cls: type) -> None:
        self.shape = Shape(cls)
        self.cls: Any = cls  # (Any: a pydantic instance is not narrowed to `object`)
        self.name = self.shape.name
        self._pydantic = is_pydantic_model(cls)
        self.empty: bytes | None = None
        try:
            self.empty = self.encode(cls())
        except Exception:  # fields without defaults: the state is None until an action sets it
            self.empty = None

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, self.cls):
            raise TypeError(f"state must be a {self.cls.__qualname__}, got {type(value).__name__}")
        if self._pydantic:  # pydantic's own JSON serializer: 20x faster than model_dump + orjson
            serializer: Any = value.__pydantic_serializer__
            out = bytes(serializer.to_json(value))
            if b"null" in out and _nonfinite(value, 0):
                raise ValueError("Out of range float values are not JSON compliant")
            return out
        return memoryview(encode_json(value)).tobytes()

    def decode(self, data: bytes) -> Any:
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError:
            raw = json.loads(data)
        try:
            return self.shape.load(raw, strict=False)
        except ShapeError as exc:
            raise ValueError(f"field {exc}") from None

    def initial(self) -> Any:
        return None if self.empty is None else self.cls()


JSON = JsonCodec()


def codec_for(state_type: object) -> StateCodec:
    """The codec for an actor's declared `state_type`, or a TypeError saying what is allowed."""
    if state_type == "json":
        return JSON
    if isinstance(state_type, type) and issubclass(state_type, Message):
        return ProtobufCodec(state_type)
    if is_typed_class(state_type):
        assert isinstance(state_type, type)
        return TypedCodec(state_type)
    raise TypeError(
        'state_type must be "json", a dataclass, a pydantic model or a protobuf message class, '
        f"got {state_type!r}"
    )


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


def typed_check(shape: Shape, nullable: bool) -> Callable[[Any], Any]:
    """The payload check of an action taking `shape`'s class (see `coerce_typed`), with the
    in-process case, an instance of the class itself, taken at the cost of one type test."""
    cls = shape.cls
    plain = not is_pydantic_model(cls)

    def check(payload: Any) -> Any:
        if type(payload) is cls:
            return payload
        if plain and type(payload) is dict:  # a JSON object for a dataclass: straight in
            try:
                return shape.converter()(payload, 0, True)
            except ShapeError as exc:
                raise _bad_payload(exc) from None
            except RecursionError:
                raise BadRequest("payload: nested too deeply") from None
        return coerce_typed(payload, shape, nullable)

    return check


def _bad_payload(exc: ShapeError) -> BadRequest:
    return BadRequest(f"payload.{exc}" if exc.path else f"payload: {exc.reason}")


def coerce_typed(payload: Any, shape: Shape, nullable: bool) -> Any:
    """A payload for an action whose payload is annotated with a dataclass or pydantic model:
    an instance, or its JSON form checked field by field. A mismatch is a 400 naming the field."""
    if payload is None:
        if nullable:
            return None
        raise BadRequest(f"payload: {shape.cls.__name__} required, got nothing")
    try:
        return shape.coerce(payload, strict=True)
    except ShapeError as exc:
        raise _bad_payload(exc) from None
