"""`ClientRing`: a client's copy of the ring agrees with the nodes' `Ring`, per system, stays
bounded, skips members that refused a connection for a while, and refuses documents it cannot
use (another hash, a bad shape) instead of guessing owners."""

from __future__ import annotations

from typing import Any

import pytest

from roost.node.clientring import DOWN_FOR, MAX_SYSTEMS, ClientRing
from roost.placement.ring import HASH_NAME, Ring


def _doc(**over: Any) -> dict[str, Any]:
    members = [
        {"id": "a", "http": "10.0.0.1:8800", "systems": None},
        {"id": "b", "http": "10.0.0.2:8800", "systems": ["orders"]},
        {"id": "c", "http": "10.0.0.3:8800", "systems": ["orders", "carts"]},
    ]
    return {"version": "v7", "vnodes": 40, "hash": HASH_NAME, "members": members, **over}


def test_owners_per_system_match_the_nodes_rings() -> None:
    cr = ClientRing(_doc(), "https")
    assert cr.version == "v7" and cr.urls["b"] == "https://10.0.0.2:8800"
    full, carts = Ring(["a", "b", "c"], 40), Ring(["a", "c"], 40)
    for i in range(500):
        assert cr.ring_for("orders").owner("orders", f"k{i}") == full.owner("orders", f"k{i}")
        assert cr.ring_for("carts").owner("carts", f"k{i}") == carts.owner("carts", f"k{i}")
    assert cr.ring_for("other").members == ("a",)  # only a hosts every system
    for i in range(MAX_SYSTEMS * 2):
        cr.ring_for(f"s{i}")
    assert len(cr._rings) <= MAX_SYSTEMS  # names from callers never grow the cache unbounded


def test_a_member_that_refused_is_skipped_for_a_while() -> None:
    cr = ClientRing(_doc(), "http")
    actor = next(f"k{i}" for i in range(1000) if cr.ring.owner("orders", f"k{i}") == "b")
    assert cr.owner_url("orders", actor, 0.0) == "http://10.0.0.2:8800"
    cr.mark_down("http://10.0.0.2:8800", 0.0)
    assert cr.owner_url("orders", actor, 1.0) is None  # the caller falls back to another node
    assert cr.others(1.0)[-1] == "http://10.0.0.2:8800"  # and tries it last
    assert cr.owner_url("orders", actor, DOWN_FOR + 0.1) == "http://10.0.0.2:8800"


@pytest.mark.parametrize(
    "over",
    [{"hash": "md5"}, {"vnodes": 0}, {"vnodes": "x"}, {"members": [{"id": "a"}]}, {"version": 0}],
)
def test_documents_it_cannot_use_are_refused(over: dict[str, Any]) -> None:
    doc = _doc(**over)
    if over == {"version": 0}:  # no version at all
        del doc["version"]
    with pytest.raises(ValueError):
        ClientRing(doc, "http")
