"""Actors in two languages on a real cluster: two `roost node` processes (serf + PostgreSQL) and a
Node.js actor host built from sdks/node (examples/counter.js) registering `js-counter`.

It is invoked over HTTP, from Python and from Node; a Node action calls a Python actor and a
Python actor calls and pipes to the Node actor; its state survives a SIGTERM of its owner.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import roost
from tests.conftest import free_port, need
from tests.integration.procs import ACTORS, Proc, ProcCluster
from tests.integration.test_cluster import _pg_up
from tests.sdks.nodesdk import node_sdk

pytestmark = [pytest.mark.integration, pytest.mark.serf, pytest.mark.postgres]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[ProcCluster]:
    need(shutil.which("serf") is not None, "serf is not installed (apt-get install serf)")
    need(_pg_up(), "PostgreSQL is not running on 127.0.0.1:5432")
    actors = ACTORS + ",examples.polyglot:Doubler"
    c = ProcCluster(tmp_path, f"poly-{uuid.uuid4().hex[:8]}", actors=actors)
    try:
        for i in (1, 2):
            c.start(f"n{i}")
        for p in list(c.nodes.values()):
            await c.wait_ready(p)
        await c.wait_active(c.nodes["n1"], 2)
        yield c
    finally:
        await c.cleanup()


@pytest.fixture
def js_host(cluster: ProcCluster, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    node, sdk = node_sdk()
    env = {
        **os.environ,
        "ROOST_SYSTEM": cluster.system,
        "PROXY_HTTP_HOST": "127.0.0.1",
        "PROXY_HTTP_PORT": str(cluster.nodes["n1"].proxy_port),
        "USER_FUNCTION_PORT": str(free_port()),
    }
    host = subprocess.Popen(
        [node, "examples/counter.js"], cwd=sdk, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert host.stdout is not None
        line = host.stdout.readline()  # the host prints one line once registered (or failed)
        assert line.startswith("registered js-counter"), line + host.stdout.read()
        yield host
    finally:
        host.kill()
        host.wait()


def node_invoke(proc: Proc, system: str, actor: str, action: str, payload: Any) -> Any:
    """`spawn.invoke(...)` from a Node process, through `proc`'s protocol listener."""
    node, sdk = node_sdk()
    env = {**os.environ, "PROXY_HTTP_PORT": str(proc.proxy_port)}
    done = subprocess.run(
        [node, "examples/invoke.js", actor, action, json.dumps(payload), system],
        cwd=sdk, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def http_invoke(url: str, system: str, actor: str, action: str, payload: Any) -> Any:
    """POST to the JSON API, retrying only 503 (refused before anything ran)."""
    path = f"{url}/v1/systems/{system}/actors/{actor}/actions/{action}"
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as s:
        while True:
            async with s.post(path, json=payload) as r:
                body = await r.json()
                if r.status == 200:
                    return body
                if r.status != 503 or time.monotonic() > deadline:
                    raise AssertionError(f"{actor}.{action}: {r.status} {body}")
            await asyncio.sleep(0.2)


async def test_actors_in_two_languages(
    cluster: ProcCluster, js_host: subprocess.Popen[str]
) -> None:
    sys_ = cluster.system
    n1, n2 = cluster.nodes["n1"], cluster.nodes["n2"]

    # from HTTP, through the node the host did not register with
    assert await http_invoke(n2.url, sys_, "js-counter", "add", {"value": 1}) == {"total": 1}
    # from Python
    reply = await roost.invoke(
        "js-counter", action="add", payload={"value": 2}, system=sys_, url=n1.url
    )
    assert reply == {"total": 3}
    # from Node, on the other node's protocol listener; and the Python seed actor from Node
    assert await asyncio.to_thread(node_invoke, n2, sys_, "js-counter", "add", {"value": 3}) == {
        "total": 6
    }
    for value, total in ((1, 1), (5, 6)):
        got = await asyncio.to_thread(node_invoke, n1, sys_, "incrementor", "add", {"value": value})
        assert got == {"total": total}

    # a Node action calls a Python actor (caller and metadata arrive)
    who = await http_invoke(n1.url, sys_, "js-counter", "ask_python", None)
    assert who == {"caller": {"name": "js-counter"}, "metadata": {"lang": "node"}}
    # a Python actor calls the Node actor, then pipes to it
    assert await http_invoke(n2.url, sys_, "doubler", "add_twice", {"value": 10}) == {"total": 26}

    # SIGTERM the owner: the state is handed off and the survivor carries on from it
    async with aiohttp.ClientSession() as s:
        params = {"system": sys_, "actor": "js-counter"}
        async with s.get(n1.url + "/v1/cluster/owner", params=params) as r:
            owner = (await r.json())["owner"]
    survivor = n2 if owner == "n1" else n1
    cluster.signal(owner, signal.SIGTERM)
    assert await asyncio.to_thread(cluster.wait_exit, owner) == 0
    assert await http_invoke(survivor.url, sys_, "js-counter", "add", {"value": 1}) == {"total": 27}
    assert await asyncio.to_thread(node_invoke, survivor, sys_, "js-counter", "get", None) == {
        "total": 27
    }
    assert js_host.poll() is None
