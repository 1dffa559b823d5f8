"""The peer link's framing: frames survive any split of the stream; anything that is not a frame
(too long, malformed, a header that does not decode) is refused before it is buffered."""

from __future__ import annotations

import pytest

from roost.placement import frames as f

BODY = b'{"value": 1}'


def _call() -> bytes:
    header = ["s", "a", "add", None, 1, 5000, None, {"k": "v"}, None, "rid", None]
    return f.encode(f.CALL, 7, header, BODY)


def test_a_frame_comes_back_whole_with_its_body_untouched() -> None:
    [frame] = list(f.FrameReader(1024).feed(_call()))
    assert frame.kind == f.CALL and frame.call == 7
    assert frame.header[f.C_ACTION] == "add" and frame.header[f.C_METADATA] == {"k": "v"}
    assert frame.body == BODY


def test_frames_split_at_every_byte_boundary_come_out_once_and_in_order() -> None:
    stream = _call() + f.encode(f.PING, 0, None) + f.encode(f.REPLY, 7, [200, None], b"{}")
    for cut in range(len(stream) + 1):
        reader = f.FrameReader(1024)
        frames = list(reader.feed(stream[:cut])) + list(reader.feed(stream[cut:]))
        assert [(x.kind, x.call) for x in frames] == [(f.CALL, 7), (f.PING, 0), (f.REPLY, 7)]
        assert reader.pending == 0


def test_a_truncated_frame_yields_nothing_and_is_held_as_pending() -> None:
    reader = f.FrameReader(1024)
    data = _call()
    assert list(reader.feed(data[:-1])) == []
    assert reader.pending == len(data) - 1  # a connection that ends now was cut mid-frame


def test_an_oversized_frame_is_refused_from_its_prefix_alone() -> None:
    reader = f.FrameReader(100)
    big = f.encode(f.CALL, 1, ["s"], b"x" * 200)
    with pytest.raises(f.FrameError, match="exceeds the limit of 100"):
        list(reader.feed(big[: f.PREFIX.size]))  # refused before the body is buffered


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # an HTTP client on the link port
        f.PREFIX.pack(f.AFTER_LENGTH + 4, 99, 1, 0) + b"abcd",  # unknown kind
        f.PREFIX.pack(f.AFTER_LENGTH, f.CALL, 1, 10),  # header longer than the frame
        f.PREFIX.pack(f.AFTER_LENGTH + 2, f.CALL, 1, 2) + b"\xc1\xc1",  # not JSON
    ],
)
def test_garbage_is_a_frame_error(garbage: bytes) -> None:
    with pytest.raises(f.FrameError):
        list(f.FrameReader(1 << 20).feed(garbage))


def test_a_header_with_trailing_bytes_is_a_frame_error() -> None:
    h = b'["s"] x'
    data = f.PREFIX.pack(f.AFTER_LENGTH + len(h), f.CALL, 1, len(h)) + h
    with pytest.raises(f.FrameError, match="does not decode"):
        list(f.FrameReader(1024).feed(data))
