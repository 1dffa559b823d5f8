"""Structured logs: node, request id, system and actor on every line about a request, and the
request id carried across a forward (`X-Request-Id`) and echoed to the caller."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from roost import Actor, Context, Value, action
from roost.node.logs import handler
from roost.requestctx import RequestInfo, current
from tests.node.fake_cluster import cluster, owned_by

SYS = "spawn-system"
IDS = ["a", "b"]


class Chatty(Actor):
    """An unnamed template whose actions write to the standard logging module."""

    name = "chatty"
    kind = "unnamed"

    @action
    async def say(self, payload: Any, ctx: Context) -> Value:
        logging.getLogger("tests.chatty").info("said %s", payload)
        return Value().response("ok")

    @action
    async def fail(self, ctx: Context) -> Value:
        raise RuntimeError("chatty broke")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    h = handler("json", "test-node", buf)
    root = logging.getLogger()
    old = root.level
    root.addHandler(h)
    root.setLevel(logging.INFO)
    yield buf
    root.removeHandler(h)
    root.setLevel(old)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_json_lines_carry_the_request_context(json_lines: io.StringIO) -> None:
    log = logging.getLogger("tests.logs")
    log.info("outside")
    token = current.set(RequestInfo("rid-1", "sys", "act"))
    try:
        log.warning("inside %d", 1, extra={"detail": "x"})
    finally:
        current.reset(token)
    outside, inside = lines(json_lines)
    assert outside["node"] == "test-node" and "request_id" not in outside
    assert outside["msg"] == "outside" and outside["level"] == "info"
    assert inside["request_id"] == "rid-1"
    assert (inside["system"], inside["actor"], inside["detail"]) == ("sys", "act", "x")
    assert inside["msg"] == "inside 1" and inside["logger"] == "tests.logs"


def test_text_lines_are_readable_and_tagged() -> None:
    buf = io.StringIO()
    log = logging.Logger("tests.text")
    log.addHandler(handler("text", "n1", buf))
    log.info("plain")
    token = current.set(RequestInfo("rid-2", "sys", "act"))
    try:
        log.info("tagged")
    finally:
        current.reset(token)
    plain, tagged = buf.getvalue().splitlines()
    assert plain.endswith("INFO    [n1] tests.text: plain")
    assert tagged.endswith("[n1] tests.text: tagged (req=rid-2 sys/act)")


async def test_request_id_crosses_a_forward_and_comes_back(
    tmp_path: Path, key: str, json_lines: io.StringIO
) -> None:
    async with cluster(tmp_path, key, IDS, [Chatty]) as (a, b):
        remote = owned_by("b", IDS, SYS, "chat")
        url = f"http://{a.config.http}/v1/systems/{SYS}/actors/{remote}/actions"
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{url}/say?parent=chatty", json="hi", headers={"X-Request-Id": "trace-123"}
            ) as r:
                assert r.status == 200
                assert r.headers["X-Request-Id"] == "trace-123"
            async with http.post(
                f"{url}/fail?parent=chatty", headers={"X-Request-Id": "trace-456"}
            ) as r:
                assert r.status == 500
                assert r.headers["X-Request-Id"] == "trace-456"
            async with http.get(f"http://{a.config.http}/healthz") as r:
                generated = r.headers["X-Request-Id"]
            async with http.get(
                f"http://{a.config.http}/healthz", headers={"X-Request-Id": "bad id <script>"}
            ) as r:
                replaced = r.headers["X-Request-Id"]
        assert b.core.runtime.active and not a.core.runtime.active  # the turns ran on b
        assert sum(a.metrics.forwarded.values()) == 2
    out = lines(json_lines)
    said = [x for x in out if x["logger"] == "tests.chatty"]
    assert len(said) == 1  # written on b, which only learnt the id from the forwarded header
    assert said[0]["request_id"] == "trace-123"
    assert (said[0]["system"], said[0]["actor"]) == (SYS, remote)
    failed = [x for x in out if x.get("request_id") == "trace-456"]
    assert len(failed) == 2  # the owner's line and the forwarding node's line for one request
    assert all("chatty broke" in x["msg"] and x["level"] == "warning" for x in failed)
    assert all((x["system"], x["actor"]) == (SYS, remote) for x in failed)
    assert len(generated) == 16 and int(generated, 16) >= 0
    assert replaced != "bad id <script>" and len(replaced) == 16
