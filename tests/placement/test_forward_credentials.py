"""A peer that refuses this node's signature (a secret that differs mid-rotation) is this
cluster's fault, not the caller's: the call is 503 `unavailable` naming the cause, never 401."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.counters import Counter
from roost.errors import Unavailable
from tests.node.fake_cluster import cluster, owned_by

IDS = ["c1", "c2"]


async def test_a_peer_refusing_our_signature_is_503_not_401(tmp_path: Path, key: str) -> None:
    per_node = {"c2": {"cluster_secret": "a-different-secret-0123456789"}}
    async with cluster(tmp_path, key, IDS, [Counter], per_node=per_node) as nodes:
        actor = owned_by("c2", IDS, "spawn-system", "c-")
        with pytest.raises(Unavailable, match="refused this node's cluster credentials") as err:
            await nodes[0].invoke(actor, "add", {"value": 1}, system="spawn-system",
                                  parent="counter", timeout=3.0)  # fmt: skip
        assert err.value.status == 503
        assert await nodes[1].invoke(
            actor, "add", {"value": 1}, system="spawn-system", parent="counter"
        ) == {"total": 1}  # nothing ran from the refused call


@pytest.mark.parametrize(
    ("hops", "timeout_ms"),
    [("-1", "1000"), ("0", "1000"), ("99", "1000"), ("x", "1000"), ("1", "inf"), ("1", "nan"),
     ("1", "-5"), ("1", "0"), ("1", "1e12")],
)  # fmt: skip
async def test_internal_routing_headers_out_of_bounds_are_400_and_nothing_runs(
    tmp_path: Path, key: str, hops: str, timeout_ms: str
) -> None:
    """Signed by a peer or not, a hop count outside 1..HOP_LIMIT or a deadline that is not a
    finite positive number of ms is refused before routing: no loop, no endless wait."""
    import time

    import aiohttp

    from roost.placement.auth import HEADER, derive_key, sign
    from tests.node.fake_cluster import SECRET

    async with cluster(tmp_path, key, ["c1"], [Counter]) as nodes:
        node = nodes[0]
        path = "/internal/v1/systems/spawn-system/actors/c-1/actions/add?parent=counter"
        body = b'{"value": 1}'
        headers = {
            "Content-Type": "application/json",
            "X-Roost-Hops": hops,
            "X-Roost-Timeout-Ms": timeout_ms,
            HEADER: sign(derive_key(SECRET, "internal-http"), "POST", path, body, time.time()),
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://{node.config.http}{path}", data=body, headers=headers) as resp,
        ):
            assert resp.status == 400, await resp.text()
            err = (await resp.json())["error"]
        assert err["code"] == "bad_request" and "routing header" in err["message"]
        assert ("spawn-system", "c-1") not in node.core.runtime.active
