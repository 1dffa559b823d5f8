"""`roost demo` as a real process (key generated once, state kept across a SIGTERM and a restart),
and the key file behind it (`load_or_create_key`: 0600, read back, damaged files refused)."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from roost.errors import ConfigError
from roost.node.core import load_or_create_key
from roost.statestore.crypto import generate_key, parse_key
from tests.conftest import free_port
from tests.node.test_process import ROOST, http, wait_ready

ADD = "/v1/systems/spawn-system/actors/incrementor/actions/add"


class Demo:
    """`roost demo` started in its own working directory with no ROOST_* configuration."""

    def __init__(self, cwd: Path, data: Path, port: int) -> None:
        self.cwd, self.data = cwd, data
        self.addr = f"127.0.0.1:{port}"
        self.url = f"http://{self.addr}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ROOST_")}
        self.log = cwd / "demo.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [*ROOST, "demo", "--http", self.addr, "--data", str(self.data)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=log, cwd=self.cwd)
        try:
            wait_ready(self.url, self.proc)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; log:\n{self.log.read_text()[-3000:]}") from None

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    d = Demo(tmp_path, tmp_path / "data", free_port())
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()


def test_demo_keeps_its_key_and_state_across_restarts(demo: Demo) -> None:
    key_file, db = demo.data / "key", demo.data / "roost.db"
    assert not demo.data.exists()
    demo.start()
    assert key_file.is_file() and db.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first_key = key_file.read_bytes()
    assert len(parse_key(first_key.decode())) == 32
    assert http("POST", demo.url + ADD, {"value": 1}) == (200, {"total": 1})
    assert http("POST", demo.url + ADD, {"value": 1}) == (200, {"total": 2})
    assert demo.stop() == 0
    assert f"Roost demo: system spawn-system on {demo.url}" in demo.log.read_text()

    demo.start()
    assert key_file.read_bytes() == first_key  # reused, not regenerated
    assert http("POST", demo.url + ADD, {"value": 1}) == (200, {"total": 3})
    assert demo.stop() == 0


def test_demo_with_a_damaged_key_file_exits_2_naming_it(demo: Demo) -> None:
    demo.data.mkdir()
    (demo.data / "key").write_text("not a key\n")
    out = subprocess.run(
        [*ROOST, "demo", "--http", demo.addr, "--data", str(demo.data)],
        env=demo.env, cwd=demo.cwd, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 2
    assert "configuration error" in out.stderr and str(demo.data / "key") in out.stderr
    assert "Traceback" not in out.stderr
    assert (demo.data / "key").read_text() == "not a key\n"  # never replaced


def test_key_file_is_created_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "key"
    old_umask = os.umask(0)  # so 0600 comes from the code, not from the umask
    try:
        key = load_or_create_key(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(parse_key(key)) == 32
    assert path.read_text().strip() == key
    assert load_or_create_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_key_file_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "key"
    key = generate_key()
    path.write_text(f"  {key}\n\n")
    path.chmod(0o600)
    assert load_or_create_key(path) == key


@pytest.mark.parametrize(
    "content",
    [b"", b"not base64 at all!\n", b"c2hvcnQ=\n", b"\xff\xfe\x00garbage"],
    ids=["empty", "not-base64", "16-bytes", "binary"],
)
def test_damaged_key_file_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="key file") as err:
        load_or_create_key(path)
    assert str(path) in err.value.message
    assert path.read_bytes() == content  # left for the operator to restore, never overwritten


def test_unreadable_key_path_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.mkdir()  # a directory where the file should be
    with pytest.raises(ConfigError, match="cannot read the statestore key file"):
        load_or_create_key(path)


def test_key_file_open_to_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "key"
    key = generate_key()
    path.write_text(key + "\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="roost.node"):
        assert load_or_create_key(path) == key
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
