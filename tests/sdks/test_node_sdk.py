"""The Node.js SDK's own test suite (node --test), built with tsc."""

from __future__ import annotations

import re
import subprocess

from tests.sdks.nodesdk import node_sdk


def test_node_sdk_builds_and_its_tests_pass() -> None:
    node, sdk = node_sdk()
    done = subprocess.run(
        [node, "--test", "dist/test/"], cwd=sdk, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
    passed = re.search(r"^# pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) > 0, done.stdout[-4000:]
