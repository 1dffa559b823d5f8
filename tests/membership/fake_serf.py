"""A scripted stand-in for a Serf agent's RPC port, to test the client's framing and demux.

It reads request header (+ body for the commands that carry one) and hands each to a handler
that returns the msgpack objects to send back; `push` sends unsolicited objects (stream records).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgpack

REQUESTS_WITH_BODY = {
    "handshake",
    "auth",
    "event",
    "join",
    "members-filtered",
    "stream",
    "monitor",
    "stop",
    "tags",
    "query",
    "respond",
    "install-key",
    "use-key",
    "remove-key",
    "force-leave",
}

Handler = Callable[[str, int, Any], list[Any]]


def ok(seq: int, *body: Any) -> list[Any]:
    return [{"Seq": seq, "Error": ""}, *body]


def default_handler(command: str, seq: int, body: Any) -> list[Any]:
    if command == "members":
        return ok(seq, {"Members": []})
    return ok(seq)


class FakeSerf:
    def __init__(self, handler: Handler = default_handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, int, Any]] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._packer = msgpack.Packer(use_bin_type=True)

    async def start(self) -> FakeSerf:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def push(self, *objs: Any) -> None:
        for writer in self._writers:
            writer.write(b"".join(self._packer.pack(o) for o in objs))

    def drop(self) -> None:
        for writer in self._writers:
            writer.close()

    async def close(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        unpacker = msgpack.Unpacker(raw=False)
        pending: dict[str, Any] | None = None
        while data := await reader.read(65536):
            unpacker.feed(data)
            for obj in unpacker:
                if pending is None:
                    pending = obj
                    if obj["Command"] in REQUESTS_WITH_BODY:
                        continue
                    body = None
                else:
                    body = obj
                command, seq = pending["Command"], pending["Seq"]
                pending = None
                self.requests.append((command, seq, body))
                replies = self.handler(command, seq, body)
                writer.write(b"".join(self._packer.pack(r) for r in replies))
        writer.close()
