"""Micro-benchmark behind the peer link's header format (bench/PROFILE.md, "Peer link framing").

    .venv/bin/python -m bench.frames

One CALL frame's header (system, actor, action, parent, hops, deadline, caller, metadata,
dedupe, request id, type) built and read back, in three formats: a msgpack array, a JSON array
(orjson, what `roost.placement.frames` uses) and hand-packed `struct` fields with
length-prefixed strings. Also the whole frame round trip through `FrameReader`, and the HTTP
request line and headers the HTTP forwarder built for the same call, for scale.
"""

from __future__ import annotations

import struct
import timeit
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

from roost.placement import frames

HEADER: list[Any] = ["spawn-system", "tally-1234", "add", None, 1, 29_950, None, None, None,
                     "5f2c9a1b7e3d4c60", None]  # fmt: skip
BODY = b'{"value": 1}'
_FIXED = struct.Struct(">BI")


def _struct_pack(h: list[Any]) -> bytes:
    out = [_FIXED.pack(h[4], h[5])]
    for i in (0, 1, 2, 3, 8, 9, 10):
        v = h[i]
        b = b"" if v is None else v.encode()
        out.append(struct.pack(">H", len(b) if v is not None else 0xFFFF) + b)
    return b"".join(out)


def _struct_unpack(data: bytes) -> list[Any]:
    hops, timeout = _FIXED.unpack_from(data)
    pos = _FIXED.size
    strs: list[str | None] = []
    for _ in range(7):
        (n,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if n == 0xFFFF:
            strs.append(None)
        else:
            strs.append(data[pos : pos + n].decode())
            pos += n
    s = strs
    return [s[0], s[1], s[2], s[3], hops, timeout, None, None, s[4], s[5], s[6]]


def _ns(fn: Callable[[], object], n: int = 100_000) -> float:
    best = min(timeit.repeat(fn, number=n, repeat=5))
    return best / n * 1e9


def main() -> None:
    packer = msgpack.Packer(use_bin_type=True)
    packed, js, st = packer.pack(HEADER), orjson.dumps(HEADER), _struct_pack(HEADER)
    assert msgpack.unpackb(packed) == HEADER and orjson.loads(js) == HEADER
    assert _struct_unpack(st) == HEADER
    frame = frames.encode(frames.CALL, 1, HEADER, BODY)
    reader = frames.FrameReader(1 << 20)
    http = (
        b"POST /internal/v1/systems/spawn-system/actors/tally-1234/actions/add HTTP/1.1\r\n"
        b"Host: 127.0.0.1:8801\r\nContent-Type: application/json\r\nX-Roost-Hops: 1\r\n"
        b"X-Roost-Timeout-Ms: 29950\r\nX-Roost-Signature: t=1764650000,n=0123456789abcdef01234567"
        b",s=" + b"0" * 64 + b"\r\nX-Request-Id: 5f2c9a1b7e3d4c60\r\nContent-Length: 12\r\n\r\n"
    )
    rows = [
        ("msgpack array", len(packed), _ns(lambda: packer.pack(HEADER)),
         _ns(lambda: msgpack.unpackb(packed))),
        ("JSON array, orjson (chosen)", len(js), _ns(lambda: orjson.dumps(HEADER)),
         _ns(lambda: orjson.loads(js))),
        ("struct fields + length-prefixed strings", len(st), _ns(lambda: _struct_pack(HEADER)),
         _ns(lambda: _struct_unpack(st))),
    ]  # fmt: skip
    print("| header format | bytes | encode (ns) | decode (ns) |")
    print("|---|---|---|---|")
    for name, size, enc, dec in rows:
        print(f"| {name} | {size} | {enc:.0f} | {dec:.0f} |")
    whole_enc = _ns(lambda: frames.encode(frames.CALL, 1, HEADER, BODY))
    whole_dec = _ns(lambda: list(reader.feed(frame)))
    print(
        f"\nwhole CALL frame ({len(frame)} bytes with a {len(BODY)}-byte body): encode "
        f"{whole_enc:.0f} ns, FrameReader.feed {whole_dec:.0f} ns; the HTTP forwarder's request "
        f"head for the same call alone was {len(http)} bytes"
    )


if __name__ == "__main__":
    main()
