"""How a node runs Serf: `SerfSettings`, with the reason for every default written beside it.

The node's config layer (flags and env) builds one `SerfSettings`; nothing here reads the
environment. `check_security` is the one place that decides whether a cluster may run without a
secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from roost.errors import ConfigError

DEFAULT_GOSSIP_PORT = 7946  # Serf's own default, so firewalls and Helm values stay familiar
PROFILES = ("lan", "wan", "local")
MIN_SECRET_CHARS = 16

log = logging.getLogger("roost.membership")


@dataclass(frozen=True, slots=True)
class SerfSettings:
    """Everything `SerfMembership` needs; immutable, built once by the node's config."""

    node_id: str
    # Where serf binds gossip (TCP+UDP). Serf's default port; 0.0.0.0 lets a pod bind any IP.
    gossip_bind: str = f"0.0.0.0:{DEFAULT_GOSSIP_PORT}"
    # What peers should dial; None lets Serf pick the first private address (fine in a pod).
    gossip_advertise: str | None = None
    # The HTTP address peers use to reach this node; travels as tag `http`.
    http_advertise: str = ""
    # More tags to publish (e.g. `systems`: the actor systems this node hosts), as pairs.
    tags: tuple[tuple[str, str], ...] = ()
    # "host:port", "dns:NAME[:PORT]" or "mdns"; may include this node itself.
    seeds: tuple[str, ...] = ()
    # ROOST_CLUSTER_SECRET: keys gossip encryption and the RPC auth token.
    secret: str | None = None
    # ROOST_CLUSTER_OLD_SECRETS: their gossip keys stay in the keyring, decrypt only, so nodes
    # still on an old secret keep talking to us during a rolling rotation.
    old_secrets: tuple[str, ...] = field(default=(), repr=False)
    # Allow cluster mode without a secret (plaintext gossip). Off: a typo must not open a cluster.
    insecure: bool = False
    # The Debian package installs `serf` on PATH; ROOST_SERF_BIN is read by the node's config.
    serf_bin: str = "serf"
    # Attach to an agent someone else runs (a sidecar) instead of starting our own.
    serf_rpc: str | None = None
    # Give up joining after this long and run alone (still retrying in the background): a
    # StatefulSet's pods come up one by one, and a minute covers a slow image pull of pod 0.
    join_timeout: float = 60.0
    # Agent snapshot, keyring and config live here. None: a private temp dir removed on stop.
    # Give a persistent dir to let a restarted node rejoin its old peers from the snapshot.
    work_dir: str | None = None
    # Serf timing profile. LAN = SWIM probe every 1 s, 500 ms probe timeout, suspicion x4:
    # a crash is detected in a few seconds without false positives on a busy node.
    profile: str = "lan"
    # Serf's own log lines are forwarded to logging at their level; info shows joins/failures.
    log_level: str = "info"
    # How often Serf tries to reach failed members again. Serf's default is 30 s; 10 s heals a
    # partition three times faster for one TCP dial per failed member per 10 s.
    reconnect_interval: float = 10.0
    # Failed members are reaped (dropped from the view) after this. Serf's default is 24 h;
    # 30 min keeps a crashed node visible for an operator while letting a pod that comes back
    # with a new IP under the same name rejoin without an address conflict for long.
    reconnect_timeout: float = 1800.0
    # Left members are reaped after this (Serf's default 24 h): they carry no information.
    tombstone_timeout: float = 600.0
    # How long `leave` waits for the leave intent to be gossiped before the agent exits.
    broadcast_timeout: float = 5.0
    # How often seeds are re-resolved and unknown ones joined after start: heals two halves that
    # both started alone, and picks up mDNS peers that appear later.
    rejoin_interval: float = 30.0
    # How often the agent's full member list is fetched. The serf agent coalesces member events
    # (1 s quiet period, up to 3 s, not configurable), so this caps the delay a change takes to
    # reach the view at ~1 s, and repairs anything missed around a reconnect. One loopback RPC.
    reconcile_interval: float = 1.0
    # Wait this long for our agent's RPC port to answer after launching it.
    agent_start_timeout: float = 15.0
    # Query this nameserver ("host:port") for dns: seeds instead of the system resolver.
    dns_server: str | None = None
    # Interfaces (IPs) zeroconf uses for mdns seeds; None = all. ("127.0.0.1",) for tests.
    mdns_interfaces: tuple[str, ...] | None = None
    # How long one mDNS browse waits for answers before a join attempt uses what it found.
    mdns_browse_time: float = 1.5

    def __post_init__(self) -> None:
        if not self.node_id:
            raise ConfigError("node id is empty")
        if self.profile not in PROFILES:
            raise ConfigError(f"serf profile must be one of {', '.join(PROFILES)}")
        parse_hostport(self.gossip_bind, DEFAULT_GOSSIP_PORT)
        if self.gossip_advertise:
            parse_hostport(self.gossip_advertise, DEFAULT_GOSSIP_PORT)
        if self.serf_rpc:
            parse_hostport(self.serf_rpc, None)
        if self.join_timeout < 0:
            raise ConfigError("join timeout must be >= 0")


def check_security(settings: SerfSettings) -> None:
    """Refuse cluster mode without a secret unless `--insecure`; warn when running insecure."""
    if settings.old_secrets and not settings.secret:
        raise ConfigError(
            "ROOST_CLUSTER_OLD_SECRETS is set but ROOST_CLUSTER_SECRET is not: old secrets are "
            "only accepted next to a current one"
        )
    if settings.secret:
        if len(settings.secret) < MIN_SECRET_CHARS:
            log.warning(
                "ROOST_CLUSTER_SECRET has fewer than %d characters; use a long random secret",
                MIN_SECRET_CHARS,
            )
        return
    if not settings.insecure:
        raise ConfigError(
            "cluster mode needs a cluster secret: set ROOST_CLUSTER_SECRET or pass --insecure"
        )
    log.warning(
        "running the cluster INSECURE: gossip is not encrypted and any host that can reach "
        "the gossip port can join; set ROOST_CLUSTER_SECRET for anything but a local test"
    )


def parse_hostport(spec: str, default_port: int | None) -> tuple[str, int]:
    """Split "host:port", "[v6]:port" or (with a default port) a bare host. ConfigError if bad."""
    host, port_text = spec, ""
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0:
            raise ConfigError(f"bad address {spec!r}: unclosed '['")
        host, rest = spec[1:end], spec[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ConfigError(f"bad address {spec!r}")
        port_text = rest[1:]
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
    if not host:
        raise ConfigError(f"bad address {spec!r}: no host")
    if not port_text:
        if default_port is None:
            raise ConfigError(f"bad address {spec!r}: no port")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"bad address {spec!r}: port must be 1-65535")
    return host, int(port_text)


def join_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
