"""The cluster page in headless Chromium: it loads without console errors and shows a three-member
cluster (real nodes over real HTTP, a shared membership hub instead of gossip), then follows the
cluster as it changes: invocation rates, a ring change and the handoff it causes."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from examples.counters import Counter, Incrementor
from roost.membership.base import MemberStatus
from tests.conftest import need
from tests.node import chromium
from tests.node.fake_cluster import cluster, owned_by

pytestmark = pytest.mark.integration

SYS = "spawn-system"
IDS = ["node-a", "node-b", "node-c"]
ROWS = "#members tbody tr"


def cells(column: int) -> str:
    """JS: the texts of one column of the members table."""
    query = f"{ROWS} td:nth-child({column})"
    return f"[...document.querySelectorAll('{query}')].map(e => e.textContent)"


async def test_cluster_page_shows_three_members_without_errors(tmp_path: Path, key: str) -> None:
    binary = chromium.find_chromium()
    need(binary is not None, "chromium is not installed (apt-get install chromium)")
    assert binary is not None
    async with cluster(tmp_path / "data", key, IDS, [Counter, Incrementor]) as nodes:
        a, b, _ = nodes
        base = f"http://{a.config.http}"
        names = [owned_by(i, IDS, SYS, "c") for i in IDS]

        async def invoke(n: int) -> None:
            async with aiohttp.ClientSession() as http:
                for i in range(n):
                    url = f"{base}/v1/systems/{SYS}/actors/{names[i % 3]}/actions/add"
                    async with http.post(url + "?parent=counter", json={"value": 1}) as r:
                        assert r.status == 200, await r.text()

        await invoke(3)
        async with chromium.launch(binary, tmp_path / "profile") as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/ui")
            await page.wait_for(f"document.body.dataset.loaded && {cells(1)}.length === 3")
            assert await page.evaluate(cells(1)) == IDS
            assert await page.evaluate(cells(2)) == ["active"] * 3
            # active actors per node: the page refreshes itself; on a loaded machine the first
            # refresh may predate a peer's answer, so wait for the figures to arrive
            # one counter each, and the named incrementor warmed up on its owner
            warm = a.core.router.owner(SYS, "incrementor")
            want = ["2" if i == warm else "1" for i in IDS]
            await page.wait_for(f"{cells(5)}.join() === '{','.join(want)}'")
            assert await page.evaluate(cells(5)) == want
            shares = await page.evaluate(cells(4))
            assert all(s.endswith("%") for s in shares)
            assert await page.evaluate("document.querySelectorAll('#ring circle').length") > 3
            assert await page.evaluate("document.querySelectorAll('#legend li').length") == 3
            actors = await page.evaluate("document.querySelector('#actors tbody').textContent")
            assert "spawn-system/counter" in actors

            await invoke(30)  # the next refresh shows a rate, computed from two reports
            await page.wait_for(f"{cells(6)}.some(t => /^[0-9.]+$/.test(t) && Number(t) > 0)")

            await b.membership.set_status(MemberStatus.JOINING)  # out of the ring: hands off
            await page.wait_for(f"{cells(2)}[1] === 'joining'")
            await page.wait_for(
                "[...document.querySelectorAll('#handoffs tbody td:nth-child(2)')]"
                ".some(e => e.textContent === 'node-b')"
            )
            await b.membership.set_status(MemberStatus.ACTIVE)
            await page.wait_for(f"{cells(2)}[1] === 'active'")
            assert page.errors == []


async def test_status_json_names_members_ring_and_nodes(tmp_path: Path, key: str) -> None:
    async with cluster(tmp_path, key, IDS, [Counter]) as nodes, aiohttp.ClientSession() as http:
        async with http.get(f"http://{nodes[2].config.http}/v1/cluster/status") as r:
            assert r.status == 200
            status = json.loads(await r.read())
        async with http.get(f"http://{nodes[0].config.http}/internal/v1/status") as r:
            assert r.status == 401  # a node's own figures go to peers only
        async with http.get(f"http://{nodes[0].config.http}/ui/secret.py") as r:
            assert r.status == 404
    assert status["node"] == "node-c"
    assert [m["id"] for m in status["members"]] == IDS
    assert sorted(status["nodes"]) == IDS
    assert all("error" not in n for n in status["nodes"].values())
    assert sum(status["ring"]["shares"].values()) == pytest.approx(1.0, abs=1e-4)
    assert status["ring"]["arcs"][0][0] == 0 and status["ring"]["arcs"][-1][1] == 1
