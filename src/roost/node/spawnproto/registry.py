"""`HostRegistry`: which actor hosts registered which actors, kept in the statestore, and which
of those hosts answer right now.

Each registration is one row of the statestore, in the reserved system `__roost__` (beside the
runtime's scheduled invocations and timer pins) under
``registration/{system}/{host URL}``: the RegistrationRequest bytes and the host's URL, written
through the ordinary acquire/write/release path (so `EncryptedStore` seals it like any state). A
host that registers again replaces its row. Every node reads all rows on start, on a periodic
refresh, and when a peer tells it that a host registered, so any node can run any host's actors.

Health is local to each node: a host is *down* after a refused connection or a failed TCP probe,
and *up* again after a successful probe. Calls skip down hosts; with none up they fail at once.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from roost.errors import HostUnavailable, LeaseHeld, StoreUnavailable
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.hostclient import HostClient
from roost.node.spawnproto.wire import json_type_url
from roost.runtime.reserved import RESERVED_SYSTEM, PrefixScan
from roost.statestore.base import ActorKey, StateStore, WriteItem

log = logging.getLogger("roost.spawnproto")

PREFIX = "registration/"
SCAN_BATCH = 500


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One host's registration for one system."""

    system: str
    url: str
    request: P.RegistrationRequest
    registered_at: float

    @property
    def key(self) -> ActorKey:
        return ActorKey(RESERVED_SYSTEM, f"{PREFIX}{self.system}/{self.url}")

    @property
    def json_url(self) -> str:
        """The JSONType spelling this host's SDK reads and writes."""
        return json_type_url(self.request.service_info.protocol_major_version)

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": 1,
                "system": self.system,
                "url": self.url,
                "at": self.registered_at,
                "registration": base64.b64encode(self.request.SerializeToString()).decode(),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> HostEntry:
        d = orjson.loads(data)
        req = P.RegistrationRequest()
        req.ParseFromString(base64.b64decode(d["registration"]))
        return cls(str(d["system"]), str(d["url"]), req, float(d["at"]))

    def same(self, other: HostEntry) -> bool:
        return self.url == other.url and self.request == other.request


class HostRegistry:
    """Registrations of every system on this node, and the hosts' health. `on_change` is called
    (synchronously) whenever the set of registrations changed."""

    def __init__(
        self,
        *,
        node_id: str,
        store: StateStore,
        scan: PrefixScan,
        client: HostClient,
        on_change: Callable[[], None],
        lease_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node_id = node_id
        self.store = store
        self.scan = scan
        self.client = client
        self.on_change = on_change
        self.lease_s = lease_s
        self.clock = clock
        self.entries: dict[ActorKey, HostEntry] = {}
        self.down: set[str] = set()
        self._turn = itertools.count()

    # --- registrations ------------------------------------------------------------------------

    def by_system(self) -> dict[str, list[HostEntry]]:
        """Entries per system, newest registration first (its definition of an actor wins)."""
        out: dict[str, list[HostEntry]] = {}
        for e in sorted(self.entries.values(), key=lambda e: -e.registered_at):
            out.setdefault(e.system, []).append(e)
        return out

    async def register(self, system: str, url: str, request: P.RegistrationRequest) -> HostEntry:
        """Persist a host's registration (replacing its previous one) and apply it here."""
        entry = HostEntry(system, url, request, self.clock())
        await self._persist(entry)
        self.down.discard(url)
        self._merge({entry.key: entry}, replace=False)
        return entry

    async def _persist(self, entry: HostEntry) -> None:
        for attempt in range(20):
            try:
                row = await self.store.acquire(entry.key, self.node_id, self.lease_s)
                done = await self.store.write(
                    self.node_id, [WriteItem(entry.key, entry.encode(), row.revision, True)], 0.0
                )
                if done[0] is not None:
                    return
            except LeaseHeld:
                pass  # the same host registering through another node at the same moment
            await asyncio.sleep(0.05 * (attempt + 1))
        raise StoreUnavailable(f"could not record the registration of {entry.url}")

    async def load(self) -> bool:
        """Read every registration from the store; returns whether anything changed."""
        found: dict[ActorKey, HostEntry] = {}
        after: ActorKey | None = None
        while True:
            rows, after = await self.scan(RESERVED_SYSTEM, PREFIX, after, SCAN_BATCH)
            for r in rows:
                try:
                    found[r.key] = HostEntry.decode(r.data)
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("unreadable registration %s: %s", r.key, exc)
            if after is None:
                break
        return self._merge(found, replace=True)

    def _merge(self, found: dict[ActorKey, HostEntry], *, replace: bool) -> bool:
        merged = dict(found) if replace else {**self.entries, **found}
        if replace:  # keep what this node just registered if the scan raced with the write
            for k, e in self.entries.items():
                newer = k in merged and merged[k].registered_at < e.registered_at
                if newer or (k not in merged and self.clock() - e.registered_at < 60.0):
                    merged[k] = e
        changed = merged.keys() != self.entries.keys() or any(
            not merged[k].same(self.entries[k]) for k in merged
        )
        self.entries = merged
        if changed:
            self.on_change()
        return changed

    # --- hosts and health ---------------------------------------------------------------------

    def hosts_for(self, system: str, actor: str) -> list[HostEntry]:
        return [
            e
            for e in self.by_system().get(system, [])
            if actor in e.request.actor_system.registry.actors
        ]

    def pick(self, system: str, actor: str) -> HostEntry:
        """A host that serves `actor` and is not known to be down (rotating among several)."""
        hosts = self.hosts_for(system, actor)
        up = [e for e in hosts if e.url not in self.down]
        if not up:
            where = ", ".join(e.url for e in hosts) or "none registered"
            raise HostUnavailable(f"no actor host of {system}/{actor} is up ({where})")
        return up[next(self._turn) % len(up)]

    def mark_down(self, url: str) -> None:
        if url not in self.down:
            log.warning("actor host %s is down", url)
            self.down.add(url)

    async def check_health(self) -> None:
        """Probe every registered host once; flip each one's up/down mark."""
        for url in sorted({e.url for e in self.entries.values()}):
            ok = await self.client.ping(url)
            if ok and url in self.down:
                log.info("actor host %s is up again", url)
                self.down.discard(url)
            elif not ok:
                self.mark_down(url)
