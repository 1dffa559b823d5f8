"""The committed protocol modules are exactly what scripts/gen-proto.sh makes of the .proto
files, with the grpcio-tools pinned in pyproject.toml."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[3]
PKG = Path("roost/node/spawnproto")
GENERATED = ("actor_pb2.py", "actor_pb2.pyi", "protocol_pb2.py", "protocol_pb2.pyi")


def test_regenerating_gives_the_committed_bytes(tmp_path: Path) -> None:
    need(
        importlib.util.find_spec("grpc_tools") is not None,
        "grpcio-tools (a dev dependency) is not installed",
    )
    env = {"PY": sys.executable, "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [str(ROOT / "scripts/gen-proto.sh"), str(tmp_path)], check=True, cwd=ROOT, env=env
    )
    for name in GENERATED:
        fresh = (tmp_path / PKG / name).read_bytes()
        committed = (ROOT / "src" / PKG / name).read_bytes()
        assert fresh == committed, f"{name} differs: run scripts/gen-proto.sh and commit"
