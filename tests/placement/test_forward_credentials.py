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
