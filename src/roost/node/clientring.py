"""An owner-aware client's copy of the cluster's ring (from GET /v1/cluster/ring). Pure.

It holds one entry per member (never a table per actor, which grows without bound) and computes
owners with the nodes' own `Ring`, so client and nodes agree on every owner. Members a client
could not connect to are skipped for `DOWN_FOR` seconds: their calls go to another node, which
forwards them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from roost.placement.ring import HASH_NAME, Ring

DOWN_FOR = 5.0  # seconds a member that refused a connection is skipped
MAX_SYSTEMS = 64  # per-system rings kept; more (names from callers) clears the cache


class ClientRing:
    """Owners and their base URLs, from one ring document."""

    def __init__(self, doc: Mapping[str, Any], scheme: str) -> None:
        """Raises ValueError for a document this client cannot use (another hash, bad shape)."""
        if not isinstance(doc, Mapping) or doc.get("hash") != HASH_NAME:
            raise ValueError(f"unsupported ring (hash {doc.get('hash')!r}, want {HASH_NAME})")
        try:
            self.version = str(doc["version"])
            vnodes = int(doc["vnodes"])
            members = list(doc["members"])
            self.urls = {str(m["id"]): f"{scheme}://{m['http']}" for m in members}
            self._systems: dict[str, frozenset[str] | None] = {
                str(m["id"]): None if m.get("systems") is None else frozenset(m["systems"])
                for m in members
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed ring document: {exc!r}") from None
        if vnodes < 1:
            raise ValueError("malformed ring document: vnodes < 1")
        self.ring = Ring(self.urls, vnodes)
        self._rings: dict[str, Ring] = {}
        self._down: dict[str, float] = {}  # url -> until (clock seconds)

    def ring_for(self, system: str) -> Ring:
        """The members hosting `system` (no systems list: every system), as the nodes do."""
        ring = self._rings.get(system)
        if ring is None:
            hosts = [m for m, s in self._systems.items() if s is None or system in s]
            ring = self.ring if len(hosts) == len(self.ring) else self.ring.subset(hosts)
            if len(self._rings) >= MAX_SYSTEMS:
                self._rings.clear()
            self._rings[system] = ring
        return ring

    def owner_url(self, system: str, actor: str, now: float) -> str | None:
        """The owner's base URL, or None (no member hosts the system, or the owner is down)."""
        owner = self.ring_for(system).owner(system, actor)
        if owner is None:
            return None
        url = self.urls[owner]
        return None if self._down and self._down.get(url, 0.0) > now else url

    @property
    def has_down(self) -> bool:
        """Whether any member was marked down (callers skip reading the clock when not)."""
        return bool(self._down)

    def mark_down(self, url: str, now: float) -> None:
        if url in self.urls.values():
            self._down[url] = now + DOWN_FOR

    def others(self, now: float) -> Sequence[str]:
        """Every member's URL (for falling back), members marked down last."""
        urls = sorted(self.urls.values())
        down = {u for u in urls if self._down.get(u, 0.0) > now}
        return [u for u in urls if u not in down] + [u for u in urls if u in down]
