"""A tiny authoritative DNS server for tests: A records from a dict, on loopback UDP and TCP.

Written from RFC 1035 with `struct`, independently of the client under test. Names it does not
know get NXDOMAIN. With `truncate_udp`, UDP answers only set the TC bit, forcing TCP.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Mapping, Sequence


def _read_qname(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length
    return ".".join(labels).lower(), offset + 1


class TestDnsServer:
    __test__ = False  # not a test class

    def __init__(self, records: Mapping[str, Sequence[str]], *, truncate_udp: bool = False) -> None:
        self.records = {k.lower().rstrip("."): list(v) for k, v in records.items()}
        self.truncate_udp = truncate_udp
        self.queries: list[str] = []
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    def answer(self, query: bytes, *, via_udp: bool) -> bytes:
        (qid,) = struct.unpack("!H", query[:2])
        name, end = _read_qname(query, 12)
        self.queries.append(name)
        question = query[12 : end + 4]
        addrs = self.records.get(name)
        flags = 0x8180  # QR, RD, RA
        if addrs is None:
            return struct.pack("!HHHHHH", qid, flags | 3, 1, 0, 0, 0) + question
        if via_udp and self.truncate_udp:
            return struct.pack("!HHHHHH", qid, flags | 0x0200, 1, 0, 0, 0) + question
        answers = b"".join(
            struct.pack("!HHHIH", 0xC00C, 1, 1, 30, 4) + socket.inet_aton(a) for a in addrs
        )
        return struct.pack("!HHHHHH", qid, flags, 1, len(addrs), 0, 0) + question + answers

    async def start(self) -> TestDnsServer:
        loop = asyncio.get_running_loop()
        server = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.transport.sendto(server.answer(data, via_udp=True), addr)  # type: ignore[attr-defined]

        async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = self.answer(await reader.readexactly(length), via_udp=False)
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
            writer.close()

        for attempt in range(20):  # the UDP port's TCP twin may be taken by another process
            transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(on_tcp, "127.0.0.1", port)
            except OSError:
                transport.close()
                if attempt == 19:
                    raise
                continue
            self._udp, self.port = transport, port
            return self
        raise AssertionError("unreachable")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
