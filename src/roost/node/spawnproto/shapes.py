"""The two shapes of `Metadata.channel_group` in a registration, told apart on the wire.

Protocol 1.1 SDKs (Spawn's Python SDK 0.1.2) send `Metadata{string channel_group = 1}`: one
channel name. Current SDKs send `Metadata{repeated Channel channel_group = 1}` with
`Channel{topic = 1, action = 2}`. Both are field 1, length-delimited, so a parser expecting one
reads the other as garbage (or, worse, as something else). Each entry is decided on its own
bytes, never guessed: an encoded `Channel` always starts with a field tag (0x0a or 0x12, control
characters), a 1.1 channel name is text without control characters. An entry that is neither, or
a registration that mixes both, is refused (400) naming the actor and the field.

`normalize` rewrites a 1.1 registration into the current shape (`Channel{topic}`; its action is
then the default `receive`, as Spawn delivers), so everything after parsing sees one model.
Pure: bytes in, bytes out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from roost.errors import BadRequest

SHAPE_CURRENT = "current"  # repeated Channel messages
SHAPE_1_1 = "1.1"  # one channel name string

_LEN = 2  # the length-delimited wire type
# RegistrationRequest.actor_system=2 -> ActorSystem.registry=2 -> Registry.actors=1 (map entry)
# -> entry value=2 (Actor) -> Actor.metadata=6 -> Metadata.channel_group=1
_TO_REGISTRY = (2, 2)


class _Malformed(ValueError):
    pass


@dataclass
class _Found:
    shapes: set[str] = field(default_factory=set)


def normalize(body: bytes) -> tuple[bytes, str | None]:
    """The registration in the current shape, and the shape its channels came in (None: no
    actor declares a channel). Malformed bytes are returned as they are, for the parser to
    refuse with its own message."""
    found = _Found()
    try:
        out = _map_path(body, _TO_REGISTRY, lambda reg: _map_actors(reg, found))
    except _Malformed:
        return body, None
    if len(found.shapes) > 1:
        raise BadRequest(
            "registration refused: Metadata.channel_group is a channel name (protocol 1.1) in "
            "some actors and Channel messages in others; one registration uses one shape"
        )
    return out, next(iter(found.shapes), None)


def _map_actors(registry: bytes, found: _Found) -> bytes:
    out = bytearray()
    for num, wt, raw, value in _fields(registry):
        if num == 1 and wt == _LEN:  # one map entry: key=1 (actor name), value=2 (Actor)
            name = _entry_key(value)
            entry = _map_path(value, (2, 6), partial(_map_metadata, actor=name, found=found))
            out += _tag(num, wt) + _varint(len(entry)) + entry
        else:
            out += raw
    return bytes(out)


def _map_metadata(md: bytes, actor: str, found: _Found) -> bytes:
    out = bytearray()
    for num, wt, raw, value in _fields(md):
        if num != 1:
            out += raw
            continue
        text = _channel_name(value) if wt == _LEN else None
        if text is not None:
            found.shapes.add(SHAPE_1_1)
            channel = _tag(1, _LEN) + _varint(len(value)) + value  # Channel{topic}
            out += _tag(1, _LEN) + _varint(len(channel)) + channel
        elif wt == _LEN and _is_channel(value):
            found.shapes.add(SHAPE_CURRENT)
            out += raw
        else:
            raise BadRequest(
                f"registration refused: actor {actor!r}: Metadata.channel_group is neither a "
                "channel name (protocol 1.1) nor a Channel{topic, action} message"
            )
    return bytes(out)


def _channel_name(value: bytes) -> str | None:
    """The entry as a 1.1 channel name: non-empty text with no control characters."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        return None
    return text


def _is_channel(value: bytes) -> bool:
    """The entry as `Channel{string topic = 1; string action = 2}` with a usable topic."""
    try:
        fields = _fields(value)
    except _Malformed:
        return False
    topic = None
    for num, wt, _, v in fields:
        if num not in (1, 2) or wt != _LEN:
            return False
        text = _channel_name(v) if v else ""
        if text is None:
            return False
        if num == 1:
            topic = text
    return bool(topic)


def _entry_key(entry: bytes) -> str:
    for num, wt, _, v in _fields(entry):
        if num == 1 and wt == _LEN:
            return v.decode("utf-8", "replace")
    return ""


def _map_path(buf: bytes, path: tuple[int, ...], fn: Callable[[bytes], bytes]) -> bytes:
    """Apply `fn` to the message at `path` (field numbers of nested messages) inside `buf`."""
    if not path:
        return fn(buf)
    out = bytearray()
    for num, wt, raw, value in _fields(buf):
        if num == path[0] and wt == _LEN:
            inner = _map_path(value, path[1:], fn)
            out += _tag(num, wt) + _varint(len(inner)) + inner
        else:
            out += raw
    return bytes(out)


def _fields(buf: bytes) -> list[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, the field's bytes as encoded, its value for LEN fields)."""
    out = []
    i, n = 0, len(buf)
    while i < n:
        start = i
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise _Malformed("field number 0")
        value = b""
        if wt == 0:
            _, i = _read_varint(buf, i)
        elif wt == 1:
            i += 8
        elif wt == _LEN:
            size, i = _read_varint(buf, i)
            value = buf[i : i + size]
            i += size
        elif wt == 5:
            i += 4
        else:
            raise _Malformed(f"wire type {wt}")
        if i > n:
            raise _Malformed("truncated")
        out.append((num, wt, buf[start:i], value))
    return out


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _Malformed("bad varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _tag(num: int, wt: int) -> bytes:
    return _varint(num << 3 | wt)
