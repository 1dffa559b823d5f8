"""`RawPayload`: a request body as it arrived, decoded only on the node where its actor runs.

A call that enters one node and runs on another crosses the cluster as the bytes the entry node
received (JSON, or protobuf bytes with their message type name): nothing decodes them on the way
and nothing encodes them again. A body that does not decode fails there with the same 400
`bad_request` the entry node would have answered.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from roost.sdk.state import encode_json, message_from, parse_json_payload


class RawPayload:
    """Undecoded request bytes: JSON when `type_name` is None, else that protobuf message."""

    __slots__ = ("data", "type_name")

    def __init__(self, data: bytes, type_name: str | None = None) -> None:
        self.data = data
        self.type_name = type_name

    def decode(self) -> Any:
        """The payload an action receives (BadRequest when the bytes do not parse)."""
        if self.type_name is not None:
            return message_from(self.type_name, self.data)
        if not self.data or self.data.isspace():
            return None
        return parse_json_payload(self.data)

    def __repr__(self) -> str:
        return f"RawPayload({len(self.data)} bytes, {self.type_name or 'json'})"


def decoded(payload: Any) -> Any:
    """`payload` ready for an actor: a `RawPayload` decoded, anything else as it is."""
    return payload.decode() if type(payload) is RawPayload else payload


def wire_bytes(payload: Any) -> tuple[bytes, str | None]:
    """`payload` as bytes to send to a peer, and its protobuf type name (None: JSON). A
    `RawPayload` is passed on as it came; a message keeps its binary form."""
    if type(payload) is RawPayload:
        return payload.data, payload.type_name
    if payload is None:
        return b"", None
    if isinstance(payload, Message):
        return payload.SerializeToString(), payload.DESCRIPTOR.full_name
    return encode_json(payload), None
