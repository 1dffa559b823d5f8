"""A minimal DNS A-record client, used when `dns_server` names the nameserver to ask.

The system resolver (`getaddrinfo`) is the default and right for Kubernetes; this client exists
for setups whose cluster DNS is not in resolv.conf, and so tests can resolve `dns:` seeds from a
nameserver of their own. It asks over UDP and falls back to TCP when the answer is truncated
(a headless Service with many pods overflows 512 bytes).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import struct
from collections.abc import Awaitable, Callable, Sequence

from roost.membership.settings import parse_hostport

_TYPE_A = 1
_CLASS_IN = 1
_FLAG_QR = 0x8000
_FLAG_TC = 0x0200
_RCODE_NXDOMAIN = 3

Resolver = Callable[[str], Awaitable[Sequence[str]]]


class DnsError(OSError):
    """The nameserver did not answer, or answered with an error."""


def build_query(name: str, query_id: int) -> bytes:
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)  # RD: recursion desired
    qname = b"".join(
        bytes([len(label)]) + label
        for label in (p.encode("idna") for p in name.strip(".").split("."))
    )
    return header + qname + b"\x00" + struct.pack("!HH", _TYPE_A, _CLASS_IN)


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        if offset >= len(data):
            raise DnsError("truncated DNS name")
        length = data[offset]
        if length & 0xC0 == 0xC0:  # compression pointer: two bytes, name ends here
            return offset + 2
        offset += 1 + length
        if length == 0:
            return offset


def parse_response(data: bytes, query_id: int) -> tuple[list[str], bool]:
    """The A records of a response, and whether it was truncated."""
    if len(data) < 12:
        raise DnsError("short DNS response")
    rid, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", data[:12])
    if rid != query_id or not flags & _FLAG_QR:
        raise DnsError("DNS response does not match the query")
    if flags & _FLAG_TC:
        return [], True
    rcode = flags & 0x000F
    if rcode == _RCODE_NXDOMAIN:
        return [], False
    if rcode != 0:
        raise DnsError(f"DNS server answered rcode {rcode}")
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(data, offset) + 4
    addresses: list[str] = []
    for _ in range(ancount):
        offset = _skip_name(data, offset)
        if offset + 10 > len(data):
            raise DnsError("truncated DNS answer")
        rtype, rclass, _ttl, rdlength = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        rdata = data[offset : offset + rdlength]
        offset += rdlength
        if rtype == _TYPE_A and rclass == _CLASS_IN and len(rdata) == 4:
            addresses.append(str(ipaddress.IPv4Address(rdata)))
    return addresses, False


class _UdpExchange(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def _ask_udp(host: str, port: int, query: bytes, wait: float) -> bytes:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_UdpExchange, remote_addr=(host, port))
    try:
        transport.sendto(query)
        async with asyncio.timeout(wait):
            return await proto.answer
    finally:
        transport.close()


async def _ask_tcp(host: str, port: int, query: bytes, wait: float) -> bytes:
    async with asyncio.timeout(wait):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            return await reader.readexactly(length)
        finally:
            writer.close()


def nameserver_resolver(server: str, *, attempts: int = 3, wait: float = 1.0) -> Resolver:
    """A `Resolver` that asks the nameserver at "host:port" (port 53 by default) for A records."""
    host, port = parse_hostport(server, 53)

    async def resolve(name: str) -> Sequence[str]:
        last: Exception = DnsError(f"no answer from {server}")
        for _ in range(attempts):
            query_id = secrets.randbelow(1 << 16)
            query = build_query(name, query_id)
            try:
                addresses, truncated = parse_response(
                    await _ask_udp(host, port, query, wait), query_id
                )
                if truncated:
                    addresses, _ = parse_response(await _ask_tcp(host, port, query, wait), query_id)
                return addresses
            except (TimeoutError, OSError) as exc:
                last = exc
        raise DnsError(f"DNS lookup of {name!r} at {server} failed: {last}") from last

    return resolve
