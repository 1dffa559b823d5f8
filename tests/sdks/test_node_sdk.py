"""The Node.js SDK's own test suite (node --test), built with tsc."""

from __future__ import annotations

import subprocess

from tests.sdks.nodesdk import node_sdk


def test_node_sdk_builds_and_its_tests_pass() -> None:
    node, sdk = node_sdk()
    done = subprocess.run(
        [node, "--test", "dist/test/"], cwd=sdk, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass " in done.stdout
