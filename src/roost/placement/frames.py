"""The peer link's wire format (pure: bytes in, frames out; no sockets, no clock).

A frame is a fixed prefix, a small JSON header and the body, which is never parsed here:

    length  u32   bytes after this field (kind + call id + header length + header + body)
    kind    u8    HELLO, WELCOME, DENIED, CALL, BROADCAST, REPLY, PING, PONG
    call    u64   the id a REPLY is matched by (0 for connection frames)
    hlen    u16   length of the header
    header  a JSON array or object (the routing fields of a call, the status of a reply)
    body    the payload bytes exactly as the entry node received them

A reader refuses a frame longer than its limit before buffering it, and anything that does not
parse, with `FrameError`: the connection is then closed, and nothing in it is applied.

The header is JSON (orjson) rather than msgpack or hand-packed `struct` fields: measured on this
box it encodes and decodes fastest of the three (`python -m bench.frames`, bench/PROFILE.md).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

VERSION = 1
PREFIX = struct.Struct(">IBQH")
AFTER_LENGTH = PREFIX.size - 4  # kind + call id + header length
MAX_HEADER = 0xFFFF

HELLO, WELCOME, DENIED, CALL, BROADCAST, REPLY, PING, PONG = 1, 2, 3, 4, 5, 6, 7, 8
KINDS = frozenset((HELLO, WELCOME, DENIED, CALL, BROADCAST, REPLY, PING, PONG))

# CALL header: a fixed array (cheaper than a map to build and to read)
(C_SYSTEM, C_ACTOR, C_ACTION, C_PARENT, C_HOPS, C_TIMEOUT_MS, C_CALLER, C_METADATA, C_DEDUPE,
 C_REQUEST_ID, C_TYPE) = range(11)  # fmt: skip
CALL_FIELDS = 11


class FrameError(Exception):
    """The peer sent something that is not a valid frame: close the connection."""


class FrameTooLarge(FrameError):
    """A frame's length is over the reader's limit (or the bytes are not frames at all)."""


class Frame(NamedTuple):
    kind: int
    call: int
    header: Any
    body: bytes


def encode(kind: int, call: int, header: Any, body: bytes = b"") -> bytes:
    """One frame, ready to write."""
    h = orjson.dumps(header)
    if len(h) > MAX_HEADER:
        raise ValueError(f"frame header of {len(h)} bytes exceeds {MAX_HEADER}")
    return PREFIX.pack(AFTER_LENGTH + len(h) + len(body), kind, call, len(h)) + h + body


class FrameReader:
    """Splits a byte stream into frames. `max_frame` bounds one frame (header and body)."""

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame: int) -> None:
        self._buf = bytearray()
        self._max = max_frame

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held (a connection that ends with some was cut)."""
        return len(self._buf)

    def feed(self, data: bytes) -> Iterator[Frame]:
        """The complete frames `data` finishes, in order; raises `FrameError` on bad input."""
        buf = self._buf
        buf += data
        pos = 0
        try:
            while len(buf) - pos >= PREFIX.size:
                length, kind, call, hlen = PREFIX.unpack_from(buf, pos)
                if length > self._max + AFTER_LENGTH:
                    raise FrameTooLarge(f"frame of {length} bytes exceeds the limit of {self._max}")
                if length < AFTER_LENGTH + hlen or kind not in KINDS:
                    raise FrameError(f"malformed frame (kind {kind}, length {length})")
                end = pos + 4 + length
                if len(buf) < end:
                    break
                start = pos + PREFIX.size
                try:
                    header = orjson.loads(buf[start : start + hlen])
                except orjson.JSONDecodeError as exc:
                    raise FrameError(f"frame header does not decode: {exc}") from None
                body = bytes(buf[start + hlen : end])
                pos = end
                yield Frame(kind, call, header, body)
        finally:
            del buf[:pos]
