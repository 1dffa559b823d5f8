"""Serf RPC wire vocabulary: typed records and their decoders. Pure: no I/O.

The agent speaks msgpack maps with CamelCase keys (Serf's `docs/agent/rpc` page); strings arrive
as msgpack str and opaque payloads and IP addresses as bin. Decoders turn a map into a frozen
dataclass or raise `SerfProtocolError`, so a malformed record never reaches the view.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from roost.membership.errors import SerfProtocolError
from roost.membership.settings import join_hostport

IPC_VERSION = 1

# Commands whose success response is a header followed by a body.
COMMANDS_WITH_BODY = frozenset(
    {
        "join",
        "members",
        "members-filtered",
        "install-key",
        "use-key",
        "remove-key",
        "list-keys",
        "stats",
        "get-coordinate",
    }
)
# Errors the agent sends as a bare header, whatever the command.
BARE_ERRORS = frozenset({"Authentication required", "Handshake required", "Unsupported command"})
AUTH_ERRORS = frozenset({"Authentication required", "Invalid authentication token"})

MEMBER_EVENTS = frozenset(
    {"member-join", "member-leave", "member-failed", "member-update", "member-reap"}
)


@dataclass(frozen=True, slots=True)
class SerfMember:
    """One member as Serf reports it (`members`, or inside a member event)."""

    name: str
    addr: str
    port: int
    tags: Mapping[str, str]
    status: str  # alive | leaving | left | failed | none
    protocol_min: int = 0
    protocol_max: int = 0
    protocol_cur: int = 0
    delegate_min: int = 0
    delegate_max: int = 0
    delegate_cur: int = 0

    @property
    def gossip(self) -> str:
        return join_hostport(self.addr, self.port)


@dataclass(frozen=True, slots=True)
class MemberEvent:
    kind: str  # one of MEMBER_EVENTS
    members: tuple[SerfMember, ...]


@dataclass(frozen=True, slots=True)
class UserEvent:
    ltime: int
    name: str
    payload: bytes
    coalesce: bool


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """A query some member sent; answer it with `SerfRPC.respond(id, payload)` on this client."""

    id: int
    ltime: int
    name: str
    payload: bytes


SerfEvent = MemberEvent | UserEvent | QueryEvent


@dataclass(frozen=True, slots=True)
class QueryRecord:
    kind: str  # ack | response | done
    source: str = ""
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class KeyResponse:
    """Outcome of a keyring command, which Serf runs as a cluster-wide query."""

    messages: Mapping[str, str]
    keys: Mapping[str, int]
    num_nodes: int
    num_err: int
    num_resp: int

    @property
    def ok(self) -> bool:
        return self.num_err == 0 and self.num_resp == self.num_nodes


@dataclass(frozen=True, slots=True)
class SerfStats:
    agent_name: str
    members: int
    failed: int
    left: int
    encrypted: bool
    health_score: int
    raw: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def _field(raw: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = raw.get(key)
    if not isinstance(value, kind):
        raise SerfProtocolError(f"serf sent a {what} whose {key!r} is {type(value).__name__}")
    return value


def as_map(raw: object, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise SerfProtocolError(f"serf sent a {what} that is not a map: {type(raw).__name__}")
    return raw


def format_ip(raw: bytes | str) -> str:
    """Serf sends Go's net.IP: 4 or 16 raw bytes (IPv4 often in its v4-in-v6 form)."""
    if isinstance(raw, str):
        return raw
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError as exc:
        raise SerfProtocolError(f"serf sent an address of {len(raw)} bytes") from exc
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def decode_member(raw: object) -> SerfMember:
    m = as_map(raw, "member")
    tags = m.get("Tags") or {}
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise SerfProtocolError("serf sent member tags that are not a string map")
    return SerfMember(
        name=_field(m, "Name", str, "member"),
        addr=format_ip(_field(m, "Addr", (bytes, str), "member")),
        port=_field(m, "Port", int, "member"),
        tags=MappingProxyType(dict(tags)),
        status=_field(m, "Status", str, "member"),
        protocol_min=int(m.get("ProtocolMin", 0)),
        protocol_max=int(m.get("ProtocolMax", 0)),
        protocol_cur=int(m.get("ProtocolCur", 0)),
        delegate_min=int(m.get("DelegateMin", 0)),
        delegate_max=int(m.get("DelegateMax", 0)),
        delegate_cur=int(m.get("DelegateCur", 0)),
    )


def decode_members(raw: object) -> tuple[SerfMember, ...]:
    members = as_map(raw, "members response").get("Members") or []
    if not isinstance(members, list):
        raise SerfProtocolError("serf sent 'Members' that is not a list")
    return tuple(decode_member(m) for m in members)


def decode_event(raw: object) -> SerfEvent:
    e = as_map(raw, "stream record")
    kind = _field(e, "Event", str, "stream record")
    if kind in MEMBER_EVENTS:
        return MemberEvent(kind, decode_members(e))
    if kind == "user":
        return UserEvent(
            ltime=_field(e, "LTime", int, "user event"),
            name=_field(e, "Name", str, "user event"),
            payload=bytes(e.get("Payload") or b""),
            coalesce=bool(e.get("Coalesce", False)),
        )
    if kind == "query":
        return QueryEvent(
            id=_field(e, "ID", int, "query event"),
            ltime=_field(e, "LTime", int, "query event"),
            name=_field(e, "Name", str, "query event"),
            payload=bytes(e.get("Payload") or b""),
        )
    raise SerfProtocolError(f"serf streamed an unknown event type {kind!r}")


def decode_query_record(raw: object) -> QueryRecord:
    r = as_map(raw, "query record")
    return QueryRecord(
        kind=_field(r, "Type", str, "query record"),
        source=str(r.get("From") or ""),
        payload=bytes(r.get("Payload") or b""),
    )


def decode_key_response(raw: object) -> KeyResponse:
    r = as_map(raw, "key response")
    return KeyResponse(
        messages=MappingProxyType(dict(r.get("Messages") or {})),
        keys=MappingProxyType(dict(r.get("Keys") or {})),
        num_nodes=int(r.get("NumNodes", 0)),
        num_err=int(r.get("NumErr", 0)),
        num_resp=int(r.get("NumResp", 0)),
    )


def decode_stats(raw: object) -> SerfStats:
    r = as_map(raw, "stats response")
    serf = r.get("serf") or {}
    agent = r.get("agent") or {}
    return SerfStats(
        agent_name=str(agent.get("name", "")),
        members=int(serf.get("members", 0)),
        failed=int(serf.get("failed", 0)),
        left=int(serf.get("left", 0)),
        encrypted=serf.get("encrypted") == "true",
        health_score=int(serf.get("health_score", 0)),
        raw=MappingProxyType({k: dict(v) for k, v in r.items() if isinstance(v, Mapping)}),
    )
