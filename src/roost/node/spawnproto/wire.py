"""Codec helpers for Spawn's wire: parse bodies, and move values between `Any` and Roost's JSON.

Inside Roost a payload, a reply or a state view is JSON (so it crosses nodes like any other). An
`Any` holding a `JSONType` (either package spelling) *is* JSON: it becomes the decoded value, and
is wrapped again in the spelling of whoever reads it. Any other `Any` (a host's own protobuf type)
is carried untouched as ``{"@any": {"type_url": ..., "value": base64}}`` and turned back into the
same bytes at the edge: type URLs are never rewritten.
"""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from roost.errors import BadRequest
from roost.node.spawnproto import protocol_pb2 as P
from roost.sdk.state import encode_json, parse_json_payload

PROTOBUF = "application/octet-stream"
JSON_TYPE_1X = "type.googleapis.com/eigr.functions.protocol.JSONType"
JSON_TYPE_2X = "type.googleapis.com/spawn.JSONType"
_JSON_TYPE_NAMES = frozenset({"eigr.functions.protocol.JSONType", "spawn.JSONType"})
ANY_KEY = "@any"

M = TypeVar("M", bound=Message)


def parse(cls: type[M], body: bytes) -> M:
    """Decode a request body; garbage is the client's fault (400), never ours."""
    msg = cls()
    try:
        msg.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BadRequest(f"body is not a valid {cls.__name__} protobuf: {exc}") from exc
    return msg


def is_json_type(type_url: str) -> bool:
    """Whether an `Any` holds a `JSONType`, in the 1.x or the 2.x spelling."""
    return type_url.rsplit("/", 1)[-1] in _JSON_TYPE_NAMES


def json_type_url(protocol_major: int) -> str:
    """The `JSONType` URL an SDK of that protocol major version expects (1.x rejects others)."""
    return JSON_TYPE_2X if protocol_major >= 2 else JSON_TYPE_1X


def json_to_any(value: Any, type_url: str) -> any_pb2.Any:
    content = encode_json(value).decode()
    return any_pb2.Any(type_url=type_url, value=P.JSONType(content=content).SerializeToString())


def any_to_json(value: any_pb2.Any) -> Any:
    """The JSON value of an `Any`: decoded `JSONType`, or the carried form of another type.
    Raises ValueError when a `JSONType` does not hold JSON."""
    if not is_json_type(value.type_url):
        return carried(value)
    holder = P.JSONType()
    try:
        holder.ParseFromString(value.value)
    except (DecodeError, RuntimeError) as exc:
        raise ValueError(f"malformed JSONType: {exc}") from exc
    if not holder.content.strip():
        return None
    try:  # strict, as for HTTP bodies: no NaN or Infinity, no nesting that blows the stack
        return parse_json_payload(holder.content.encode())
    except BadRequest as exc:
        raise ValueError(exc.message) from exc


def carried(value: any_pb2.Any) -> dict[str, Any]:
    """An `Any` of any type carried byte for byte (JSON types too: a host's own bytes)."""
    return {ANY_KEY: {"type_url": value.type_url, "value": _b64(value.value)}}


def carried_any(payload: Any) -> any_pb2.Any | None:
    """The `Any` inside a carried value, or None if `payload` is plain JSON."""
    if not isinstance(payload, dict) or len(payload) != 1 or ANY_KEY not in payload:
        return None
    inner = payload[ANY_KEY]
    if not isinstance(inner, dict) or not isinstance(inner.get("type_url"), str):
        return None
    try:
        raw = base64.b64decode(str(inner.get("value", "")), validate=True)
    except ValueError:
        return None
    return any_pb2.Any(type_url=inner["type_url"], value=raw)


def to_any(value: Any, json_url: str) -> any_pb2.Any | None:
    """A Roost value as an `Any` for the wire: None stays None (Noop), a carried `Any` is given
    back unchanged, a protobuf message is packed, and JSON is wrapped in `json_url`'s spelling."""
    if value is None:
        return None
    exact = carried_any(value)
    if exact is not None:
        return exact
    if isinstance(value, Message):
        packed = any_pb2.Any()
        packed.Pack(value)
        return packed
    return json_to_any(value, json_url)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
