"""Where to find the cluster: seed specs, resolved fresh on every join attempt.

Seeds (``--seeds``, comma-separated):

- ``host:port`` (port defaults to 7946): a static seed; a hostname resolves to all its addresses;
- ``dns:NAME`` or ``dns:NAME:PORT``: every A record of NAME (a Kubernetes headless Service
  lists one per pod); NAME is looked up again on each attempt, since pods come and go;
- ``mdns``: peers advertising ``_roost._tcp.local.`` on the LAN (see `mdns.py`).

`Discovery.resolve` returns the addresses found plus the seeds that gave none this time; the
join policy in `SerfMembership` decides whether to retry, join, or start alone.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from roost.errors import ConfigError
from roost.membership.dnsclient import Resolver
from roost.membership.settings import DEFAULT_GOSSIP_PORT, join_hostport, parse_hostport

log = logging.getLogger("roost.membership.discovery")

SeedKind = Literal["static", "dns", "mdns"]


@dataclass(frozen=True, slots=True)
class Seed:
    kind: SeedKind
    host: str = ""
    port: int = DEFAULT_GOSSIP_PORT

    def __str__(self) -> str:
        if self.kind == "mdns":
            return "mdns"
        spec = join_hostport(self.host, self.port)
        return f"dns:{spec}" if self.kind == "dns" else spec


def parse_seeds(specs: Sequence[str]) -> tuple[Seed, ...]:
    """Parse seed specs; `ConfigError` names the first bad one."""
    seeds: list[Seed] = []
    for raw in specs:
        spec = raw.strip()
        if not spec:
            continue
        if spec == "mdns":
            seeds.append(Seed("mdns"))
        elif spec.startswith("dns:"):
            host, port = parse_hostport(spec[4:], DEFAULT_GOSSIP_PORT)
            seeds.append(Seed("dns", host, port))
        else:
            host, port = parse_hostport(spec, DEFAULT_GOSSIP_PORT)
            seeds.append(Seed("static", host, port))
    if not seeds:
        raise ConfigError("no seeds given: pass --seeds host:port, dns:NAME or mdns")
    return tuple(dict.fromkeys(seeds))


async def system_resolver(name: str) -> Sequence[str]:
    """Every address the system resolver (resolv.conf, /etc/hosts) knows for `name`."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        name, None, family=socket.AF_INET, type=socket.SOCK_STREAM
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PeerBrowser(Protocol):
    """Finds peers on the LAN (mDNS). `peers` is called by one task at a time."""

    async def peers(self) -> Sequence[str]:
        """Gossip addresses ("host:port") of the other nodes seen so far (may be empty)."""
        ...


@dataclass(frozen=True, slots=True)
class Resolution:
    addresses: tuple[str, ...]  # "host:port", deduplicated, in seed order
    unanswered: tuple[str, ...]  # "seed: why" for each seed that gave nothing this time

    @property
    def complete(self) -> bool:
        return not self.unanswered


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Discovery:
    """Resolves seeds into gossip addresses. Stateless between calls; one caller at a time."""

    def __init__(
        self,
        seeds: Sequence[Seed],
        resolver: Resolver = system_resolver,
        browser: PeerBrowser | None = None,
    ) -> None:
        if any(s.kind == "mdns" for s in seeds) and browser is None:
            raise ConfigError("mdns seeds need an mDNS browser")
        self.seeds = tuple(seeds)
        self._resolver = resolver
        self._browser = browser

    async def resolve(self) -> Resolution:
        found: list[str] = []
        unanswered: list[str] = []
        for seed in self.seeds:
            try:
                addrs = await self._resolve_one(seed)
            except (OSError, UnicodeError) as exc:
                unanswered.append(f"{seed}: {exc}")
                continue
            if not addrs and seed.kind != "mdns":  # an empty mDNS browse is an answer
                unanswered.append(f"{seed}: no addresses")
            found.extend(addrs)
        return Resolution(tuple(dict.fromkeys(found)), tuple(unanswered))

    async def _resolve_one(self, seed: Seed) -> Sequence[str]:
        if seed.kind == "mdns":
            assert self._browser is not None
            return list(await self._browser.peers())
        if seed.kind == "static" and _is_ip(seed.host):
            return [join_hostport(seed.host, seed.port)]
        hosts = await self._resolver(seed.host)
        return [join_hostport(h, seed.port) for h in hosts]


@dataclass(frozen=True, slots=True)
class JoinPlan:
    targets: tuple[str, ...]  # addresses to dial (ourselves left out)
    alone: bool  # every seed answered and named only us: we are the first node, start now


def plan_join(resolution: Resolution, self_addrs: Collection[str]) -> JoinPlan:
    """Decide one join attempt. Pure: the caller retries on a plan with no targets that is not
    `alone` (some seed did not answer yet), until its join timeout."""
    targets = tuple(a for a in resolution.addresses if a not in self_addrs)
    return JoinPlan(targets, alone=not targets and resolution.complete)
