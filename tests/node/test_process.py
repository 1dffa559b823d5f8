"""`roost node` and the CLI as real processes: invoke, SIGTERM, restart, state still there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ROOST = [sys.executable, "-m", "roost"]
ACTORS = "examples.counters:Incrementor,examples.counters:Counter,examples.counters:Tally"


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"node exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise AssertionError("node not ready in time")


class NodeProc:
    def __init__(self, tmp: Path, key: str, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.args = [
            *ROOST,
            "node",
            "--system",
            "spawn-system",
            "--actors",
            ACTORS,
            "--http",
            f"127.0.0.1:{port}",
            "--statestore",
            f"sqlite:///{tmp}/state.db",
            "--node-id",
            "proc-test",
            "--proxy-http",
            "off",
        ]
        self.env = {**os.environ, "ROOST_STATESTORE_KEY": key, "PYTHONPATH": str(ROOT)}
        self.log = tmp / "node.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=log, cwd=ROOT)
        wait_ready(self.url, self.proc)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def node(tmp_path: Path, key: str) -> Iterator[NodeProc]:
    n = NodeProc(tmp_path, key, free_port())
    yield n
    if n.proc is not None and n.proc.poll() is None:
        n.proc.kill()
        n.proc.wait()


A = "/v1/systems/spawn-system/actors"


def test_state_survives_sigterm_and_restart(node: NodeProc) -> None:
    node.start()
    assert http("POST", node.url + f"{A}/incrementor/actions/add", {"value": 2}) == (
        200,
        {"total": 2},
    )
    for _ in range(3):  # snapshot actor: only the graceful stop writes it (write-behind)
        http("POST", node.url + f"{A}/t-1/actions/add?parent=tally", {"value": 1})
    assert node.stop() == 0
    node.start()
    assert http("GET", node.url + f"{A}/incrementor/state") == (200, {"total": 2})
    assert http("POST", node.url + f"{A}/t-1/actions/get?parent=tally") == (200, {"total": 3})
    assert node.stop(signal.SIGINT) == 0


def test_sync_counter_survives_kill_9(node: NodeProc) -> None:
    node.start()
    for _ in range(3):
        http("POST", node.url + f"{A}/c-1/actions/add?parent=counter", {"value": 1})
    node.stop(signal.SIGKILL)
    node.start()  # same node id: it takes its own stale lease back at once
    assert http("POST", node.url + f"{A}/c-1/actions/get?parent=counter") == (200, {"total": 3})


def test_cli_invoke_and_errors(node: NodeProc) -> None:
    node.start()
    env = node.env

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ROOST, *args, "--url", node.url], env=env, capture_output=True, text=True, timeout=30
        )

    out = cli("invoke", "incrementor", "add", "--payload", '{"value": 5}')
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"total": 5}
    out = cli("invoke", "incrementor", "fly")
    assert out.returncode == 1
    assert "action_not_found" in out.stderr
    out = cli("invoke", "incrementor", "add", "--payload", "{oops")
    assert out.returncode == 2 and "not valid JSON" in out.stderr
    out = cli("members")
    assert out.returncode == 0 and "proc-test" in out.stdout
    out = cli("owner", "incrementor")
    assert out.returncode == 0 and json.loads(out.stdout)["owner"] == "proc-test"


def test_node_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROOST_STATESTORE_KEY"}
    out = subprocess.run(
        [
            *ROOST,
            "node",
            "--http",
            f"127.0.0.1:{free_port()}",
            "--statestore",
            f"sqlite:///{tmp_path}/x.db",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "ROOST_STATESTORE_KEY" in out.stderr and "roost keygen" in out.stderr


def test_keygen_prints_a_usable_key() -> None:
    out = subprocess.run([*ROOST, "keygen"], capture_output=True, text=True, timeout=30)
    from roost.statestore.crypto import parse_key

    assert len(parse_key(out.stdout)) == 32
