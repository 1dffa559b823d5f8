"""Decoding Serf's wire records. Pure."""

from __future__ import annotations

import pytest

from roost.membership.errors import SerfProtocolError
from roost.membership.protocol import (
    MemberEvent,
    QueryEvent,
    UserEvent,
    decode_event,
    decode_key_response,
    decode_member,
    decode_query_record,
    decode_stats,
    format_ip,
)

RAW_MEMBER = {
    "Name": "n1",
    "Addr": b"\x7f\x00\x00\x01",
    "Port": 7946,
    "Tags": {"http": "127.0.0.1:8800"},
    "Status": "alive",
    "ProtocolMin": 1,
    "ProtocolMax": 5,
    "ProtocolCur": 2,
    "DelegateMin": 2,
    "DelegateMax": 5,
    "DelegateCur": 4,
}


def test_member() -> None:
    m = decode_member(RAW_MEMBER)
    assert (m.name, m.addr, m.port, m.status, m.gossip) == (
        "n1",
        "127.0.0.1",
        7946,
        "alive",
        "127.0.0.1:7946",
    )
    assert m.tags == {"http": "127.0.0.1:8800"}
    assert (m.protocol_cur, m.delegate_cur) == (2, 4)


def test_ip_forms() -> None:
    assert format_ip(b"\x0a\x00\x00\x05") == "10.0.0.5"
    assert format_ip(b"\x00" * 10 + b"\xff\xff" + b"\x0a\x00\x00\x05") == "10.0.0.5"
    assert format_ip(b"\xfd" + b"\x00" * 14 + b"\x01") == "fd00::1"
    with pytest.raises(SerfProtocolError):
        format_ip(b"\x01\x02\x03")


@pytest.mark.parametrize(
    "bad",
    [
        {**RAW_MEMBER, "Name": 5},
        {**RAW_MEMBER, "Tags": {"a": 1}},
        {**RAW_MEMBER, "Port": "x"},
        ["not", "a", "map"],
    ],
)
def test_malformed_member(bad: object) -> None:
    with pytest.raises(SerfProtocolError):
        decode_member(bad)


def test_events() -> None:
    ev = decode_event({"Event": "member-failed", "Members": [RAW_MEMBER]})
    assert isinstance(ev, MemberEvent) and ev.kind == "member-failed" and ev.members[0].name == "n1"
    user = decode_event(
        {"Event": "user", "LTime": 3, "Name": "deploy", "Payload": b"\x00\xff", "Coalesce": True}
    )
    assert user == UserEvent(3, "deploy", b"\x00\xff", True)
    query = decode_event({"Event": "query", "ID": 9, "LTime": 4, "Name": "ping", "Payload": b""})
    assert query == QueryEvent(9, 4, "ping", b"")
    with pytest.raises(SerfProtocolError):
        decode_event({"Event": "member-explode", "Members": []})


def test_query_record_keys_stats() -> None:
    r = decode_query_record({"Type": "response", "From": "n2", "Payload": b"pong"})
    assert (r.kind, r.source, r.payload) == ("response", "n2", b"pong")
    k = decode_key_response(
        {"Messages": {}, "Keys": {"a=": 3}, "NumNodes": 3, "NumErr": 0, "NumResp": 3}
    )
    assert k.ok and k.keys == {"a=": 3}
    assert not decode_key_response({"NumNodes": 3, "NumErr": 1, "NumResp": 3}).ok
    s = decode_stats({"agent": {"name": "n1"}, "serf": {"members": "3", "encrypted": "true"}})
    assert (s.agent_name, s.members, s.encrypted, s.failed) == ("n1", 3, True, 0)
