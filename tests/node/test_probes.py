"""The probe listener (`--probe-http`): /healthz and /readyz answered by a thread from what the
node's loop last published, so a flood on the API port cannot delay them."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import orjson
import pytest

from examples.counters import Incrementor
from roost.errors import Unavailable
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.node.probes import STALL_AFTER, ProbeServer, ProbeState, refresh
from tests.conftest import free_port


def test_health_fails_when_the_loop_stalls() -> None:
    state = ProbeState("n1")
    state.beat = 100.0
    assert state.health(100.0 + STALL_AFTER - 1) == (200, {"status": "ok", "node": "n1"})
    status, body = state.health(100.0 + STALL_AFTER + 1)
    assert status == 503 and "event loop" in body["error"]["message"]  # type: ignore[index]


def test_readiness_reports_the_last_check() -> None:
    state = ProbeState("n1")
    state.beat = 50.0
    status, body = state.readiness(50.0)
    assert status == 503 and body["error"]["message"] == "node is starting"  # type: ignore[index]
    state.ready = True
    assert state.readiness(50.0) == (200, {"status": "ready", "node": "n1"})


def _get(port: int, raw: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\n\r\n", 200),
        (b"GET /readyz HTTP/1.1\r\n\r\n", 503),
        (b"GET /v1/systems HTTP/1.1\r\n\r\n", 404),
        (b"POST /healthz HTTP/1.1\r\n\r\n", 405),
        (b"garbage\r\n\r\n", 400),
    ],
)
def test_probe_server_answers_and_closes(raw: bytes, status: int) -> None:
    server = ProbeServer(ProbeState("n1"), "127.0.0.1", 0)
    server.start()
    try:
        got, body = _get(server.port, raw)
        assert got == status
        assert orjson.loads(body)
    finally:
        server.close()


async def test_refresh_publishes_the_node_readiness() -> None:
    state = ProbeState("n1")
    answer: list[Exception] = [Unavailable("statestore does not answer")]

    async def check() -> None:
        if answer:
            raise answer.pop()

    await refresh(state, check)
    assert (state.ready, state.why) == (False, "statestore does not answer")
    await refresh(state, check)
    assert (state.ready, state.why) == (True, "")


async def test_a_node_serves_probes_on_their_own_port(tmp_path: Path, key: str) -> None:
    probe = free_port()
    cfg = NodeConfig(
        node_id="probes",
        http=f"127.0.0.1:{free_port()}",
        proxy_http="off",
        probe_http=f"127.0.0.1:{probe}",
        statestore=f"sqlite:///{tmp_path}/roost.db",
        statestore_key=key,
    )
    node = Node(cfg, actor_classes=[Incrementor])
    await node.start()
    try:
        status, body = await asyncio.to_thread(_get, probe, b"GET /readyz HTTP/1.1\r\n\r\n")
        assert (status, orjson.loads(body)) == (200, {"status": "ready", "node": "probes"})
    finally:
        await node.drain()
    with pytest.raises(OSError):
        _get(probe, b"GET /healthz HTTP/1.1\r\n\r\n")  # closed with the node
