"""The RPC client's framing and demultiplexing, against a scripted fake agent (no serf)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from roost.membership import SerfRPC
from roost.membership.errors import (
    SerfAuthError,
    SerfCommandError,
    SerfConnectionError,
    SerfProtocolError,
)
from roost.membership.protocol import MemberEvent, UserEvent
from tests.conftest import until

from .fake_serf import FakeSerf, ok

MEMBER = {"Name": "n1", "Addr": b"\x7f\x00\x00\x01", "Port": 7946, "Tags": {}, "Status": "alive"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSerf]:
    server = await FakeSerf().start()
    yield server
    await server.close()


async def test_stream_records_interleaved_with_responses(fake: FakeSerf) -> None:
    stream_seq: list[int] = []

    def handler(command: str, seq: int, body: Any) -> list[Any]:
        if command == "stream":
            stream_seq.append(seq)
            return ok(seq)
        if command == "members":
            # The agent writes a stream record just before the members response.
            record = {"Event": "member-join", "Members": [MEMBER]}
            return [*ok(stream_seq[0], record), *ok(seq, {"Members": [MEMBER]})]
        return ok(seq)

    fake.handler = handler
    client = await SerfRPC.connect(fake.address)
    try:
        sub = await client.stream("*")
        members = await client.members()
        assert [m.name for m in members] == ["n1"]
        event = await anext(sub)
        assert isinstance(event, MemberEvent) and event.kind == "member-join"
        fake.push({"Seq": stream_seq[0], "Error": ""}, {"Event": "user", "LTime": 1, "Name": "x"})
        assert await anext(sub) == UserEvent(1, "x", b"", False)
    finally:
        await client.close()


async def test_bare_error_header_for_a_command_with_a_body(fake: FakeSerf) -> None:
    def handler(command: str, seq: int, body: Any) -> list[Any]:
        if command == "members" and seq == 1:
            return [{"Seq": seq, "Error": "Authentication required"}]  # no body follows
        return ok(seq, {"Members": [MEMBER]}) if command == "members" else ok(seq)

    fake.handler = handler
    client = await SerfRPC.connect(fake.address)
    try:
        with pytest.raises(SerfAuthError):
            await client.members()
        assert len(await client.members()) == 1  # the framing stayed in step
    finally:
        await client.close()


async def test_join_error_with_body(fake: FakeSerf) -> None:
    def handler(command: str, seq: int, body: Any) -> list[Any]:
        if command == "join":
            return [{"Seq": seq, "Error": "dial tcp: refused"}, {"Num": 0}]
        return ok(seq, {"Members": []}) if command == "members" else ok(seq)

    fake.handler = handler
    client = await SerfRPC.connect(fake.address)
    try:
        with pytest.raises(SerfCommandError, match="refused"):
            await client.join(["127.0.0.1:1"])
        assert await client.members() == ()
    finally:
        await client.close()


async def test_unsupported_ipc_version_is_a_protocol_error(fake: FakeSerf) -> None:
    fake.handler = lambda c, s, b: [{"Seq": s, "Error": "Unsupported IPC version"}]
    with pytest.raises(SerfProtocolError, match="Unsupported IPC version"):
        await SerfRPC.connect(fake.address)


async def test_invalid_auth_token(fake: FakeSerf) -> None:
    fake.handler = lambda c, s, b: (
        [{"Seq": s, "Error": "Invalid authentication token"}] if c == "auth" else ok(s)
    )
    with pytest.raises(SerfAuthError, match="same cluster secret"):
        await SerfRPC.connect(fake.address, "wrong")
    assert fake.requests[1] == ("auth", 1, {"AuthKey": "wrong"})


async def test_unknown_seq_fails_the_connection(fake: FakeSerf) -> None:
    client = await SerfRPC.connect(fake.address)
    try:
        fake.push({"Seq": 999, "Error": ""})
        await until(lambda: client.closed)  # the reader saw the stray header
        with pytest.raises(SerfProtocolError, match="unknown seq 999"):
            await client.members()
    finally:
        await client.close()


async def test_connection_drop_fails_pending_calls_and_streams(fake: FakeSerf) -> None:
    fake.handler = lambda c, s, b: [] if c == "members" else ok(s)  # members never answers
    client = await SerfRPC.connect(fake.address)
    sub = await client.stream("*")
    call = asyncio.create_task(client.members())
    await until(lambda: any(r[0] == "members" for r in fake.requests))  # sent, unanswered
    assert not call.done()
    fake.drop()
    with pytest.raises(SerfConnectionError):
        await call
    with pytest.raises(SerfConnectionError):
        await anext(sub)
    assert client.closed
    with pytest.raises(SerfConnectionError):
        await client.stats()
    await client.close()


async def test_late_reply_after_timeout_is_consumed(fake: FakeSerf) -> None:
    held: list[int] = []

    def handler(command: str, seq: int, body: Any) -> list[Any]:
        if command == "members" and not held:
            held.append(seq)
            return []
        return ok(seq, {"Members": []}) if command == "members" else ok(seq)

    fake.handler = handler
    client = await SerfRPC.connect(fake.address, call_timeout=0.2)
    try:
        with pytest.raises(SerfConnectionError, match="did not answer"):
            await client.members()
        fake.push({"Seq": held[0], "Error": ""}, {"Members": [MEMBER]})  # too late
        assert await client.members() == ()
    finally:
        await client.close()


async def test_records_of_a_stopped_stream_are_skipped(fake: FakeSerf) -> None:
    client = await SerfRPC.connect(fake.address)
    try:
        sub = await client.stream("*")
        await sub.stop()
        fake.push({"Seq": sub.seq, "Error": ""}, {"Event": "user", "LTime": 1, "Name": "late"})
        assert await client.members() == ()
        with pytest.raises(StopAsyncIteration):
            await anext(sub)
    finally:
        await client.close()


async def test_connect_to_nothing() -> None:
    with pytest.raises(SerfConnectionError, match="cannot reach"):
        await SerfRPC.connect("127.0.0.1:1", call_timeout=1)
