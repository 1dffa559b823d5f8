"""The statestore relay's outage switch, the delay proxy, and the report's numbers."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from chaos import report
from chaos.checker import CheckResult, Violation
from chaos.history import Convergence, FaultRecord, Op
from chaos.pipes import DelayProxy, Relay
from chaos.scenario import build


async def _echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while data := await r.read(1024):
        w.write(data)
        await w.drain()
    w.close()


async def test_relay_passes_bytes_freezes_on_block_and_cuts_on_unblock(tmp_path: Path) -> None:
    upstream = str(tmp_path / "up.sock")
    server = await asyncio.start_unix_server(_echo, path=upstream)
    relay = Relay(str(tmp_path / "relay" / ".s.PGSQL.5432"), upstream)
    await relay.start()
    try:
        r, w = await asyncio.open_unix_connection(relay.listen)
        w.write(b"ping")
        assert await asyncio.wait_for(r.readexactly(4), 2) == b"ping"
        relay.block()
        w.write(b"lost")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r.read(4), 0.3)
        r2, w2 = await asyncio.open_unix_connection(relay.listen)  # accepted, never answered
        w2.write(b"held")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r2.read(4), 0.3)
        relay.unblock()
        assert await asyncio.wait_for(r.read(4), 2) == b""  # cut, not resumed
        assert await asyncio.wait_for(r2.read(4), 2) == b""
        r3, w3 = await asyncio.open_unix_connection(relay.listen)
        w3.write(b"back")
        assert await asyncio.wait_for(r3.readexactly(4), 2) == b"back"
        for wr in (w, w2, w3):
            wr.close()
    finally:
        await relay.close()
        server.close()


async def test_delay_proxy_adds_its_delay_both_ways() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    proxy = DelayProxy(sock, ("127.0.0.1", port))
    await proxy.start()
    try:
        r, w = await asyncio.open_connection(*sock.getsockname())

        async def rtt() -> float:
            t = time.monotonic()
            w.write(b"x")
            await asyncio.wait_for(r.readexactly(1), 5)
            return time.monotonic() - t

        baseline = await rtt()
        proxy.delay = 0.15
        delayed = await rtt()
        # each direction waits its delay: at least 0.3 s more (only a lower bound is robust on a
        # loaded machine)
        assert delayed >= 0.3 and delayed - baseline >= 0.25
        w.close()
    finally:
        await proxy.close()
        server.close()


def _op(op: int, start: float, end: float, outcome: str = "ok", error: str | None = None) -> Op:
    return Op(op, "a", "chaoslog", "n1", start, end, outcome, [op], error)  # type: ignore[arg-type]


def test_availability_counts_stalls_as_zero() -> None:
    ops = [_op(1, 0.1, 0.2), _op(2, 0.3, 3.5), _op(3, 3.6, 3.7, "fail", "503 unavailable")]
    per = report.availability(ops)
    assert [p["availability"] for p in per] == [1.0, 0.0, 0.0, 0.5]


def test_report_and_summary_show_faults_errors_and_violations() -> None:
    s = build("kill-one", 3, 3)
    ops = [_op(1, 0.1, 0.2), _op(2, 0.3, 0.4, "unknown", "504 timeout")]
    res = CheckResult(violations=[Violation("lost-update", "a", "op 1 missing")])
    data = report.build(
        s,
        mode="netns",
        ops=ops,
        faults=[FaultRecord("kill", ("rcx1-n2",), 8.0, 20.0, "killed -9", True)],
        finals={"a": [1]},
        convergence=Convergence(members_ok=True),
        result=res,
        problems=["rcx1-n2 did not exit 0 after SIGTERM"],
    )
    assert data["requests"] == {
        "total": 2,
        "ok": 1,
        "failed": 0,
        "unknown": 1,
        "by_template": {"chaoslog": {"ok": 1, "unknown": 1}},
    }
    assert data["errors_by_kind"] == {"504 timeout": 1}
    assert [v["kind"] for v in data["violations"]] == ["lost-update", "harness"]
    text = report.summary(data)
    assert "VIOLATION lost-update a" in text and "FAIL (2 violations)" in text
    assert "seed 3" in text
    assert report.table_row(data).startswith("| kill-one | 3 | 3 | 2 | 1 (0 + 1) | 50.0%")
