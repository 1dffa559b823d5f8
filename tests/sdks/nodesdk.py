"""Build the Node.js SDK (sdks/node) for the tests: `npm ci` only when its lockfile changed
(offline-tolerant: npm's cache first), then `tsc`. Without node/npm the tests skip, except under
CI=true, where they fail (`need`)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdks" / "node"


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, cwd=SDK, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        out = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        raise AssertionError(f"{what} failed ({done.returncode}):\n{out}")


@functools.cache
def _build(node: str, npm: str) -> Path:
    lock = (SDK / "package-lock.json").read_bytes()
    stamp = SDK / "node_modules" / ".roost-installed-lock"
    if not stamp.exists() or stamp.read_bytes() != lock:
        done = subprocess.run(
            [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"],
            cwd=SDK, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        need(done.returncode == 0, f"npm ci failed (offline?): {done.stderr[-500:]}")
        stamp.write_bytes(lock)
    _run([npm, "run", "--silent", "build"], "tsc (npm run build)")
    return SDK


def node_sdk() -> tuple[str, Path]:
    """The `node` binary and the built SDK's directory."""
    node, npm = shutil.which("node"), shutil.which("npm")
    need(node is not None and npm is not None, "node and npm are not installed")
    assert node is not None and npm is not None
    return node, _build(node, npm)
