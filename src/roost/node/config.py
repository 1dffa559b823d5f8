"""`NodeConfig`: every setting of a node, from flags, then environment, then defaults.

`OPTIONS` is the single table of settings: the CLI builds its flags from it and the README's
configuration table is written from it, so the three never disagree.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from roost.errors import ConfigError
from roost.placement.ring import DEFAULT_VNODES


@dataclass(frozen=True, slots=True)
class Option:
    flag: str
    env: str | None
    default: Any
    help: str
    kind: str = "str"  # str | int | float | list | bool

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("--system", "ROOST_SYSTEM", "spawn-system", "actor system this node hosts", "list"),
    Option("--node-id", "ROOST_NODE_ID", None, "node id (default: the hostname)"),
    Option(
        "--actors", "ROOST_ACTORS", "", "actor classes to load, comma list of module:Class", "list"
    ),
    Option("--http", "ROOST_HTTP_ADDR", "0.0.0.0:8800", "HTTP API listen address"),
    Option(
        "--advertise",
        "ROOST_ADVERTISE_ADDR",
        None,
        "host[:port] peers use to reach this node's HTTP API (default: derived from --http)",
    ),
    Option("--gossip", "ROOST_GOSSIP_ADDR", "0.0.0.0:7946", "Serf gossip bind address"),
    Option(
        "--link",
        "ROOST_LINK_ADDR",
        None,
        "peer link listen address for node-to-node calls (default: the --http host, a port the "
        "OS picks; peers learn it from the `link` gossip tag; 'off': forward over HTTP)",
    ),
    Option(
        "--link-advertise",
        "ROOST_LINK_ADVERTISE_ADDR",
        None,
        "host:port peers use to reach the peer link (default: the --advertise host with the "
        "port --link listens on)",
    ),
    Option(
        "--seeds",
        "ROOST_SEEDS",
        "",
        "cluster seeds: host:port list, dns:NAME (headless Service) or mdns",
        "list",
    ),
    Option(
        "--statestore",
        "ROOST_STATESTORE_URL",
        "sqlite:///roost-data/roost.db",
        "statestore URL: sqlite:///path, postgresql://..., mysql://...",
    ),
    Option("--drain-timeout", "ROOST_DRAIN_TIMEOUT", 25.0, "seconds to drain on SIGTERM", "float"),
    Option("--lease", "ROOST_LEASE_SECONDS", 10.0, "ownership lease in seconds", "float"),
    Option("--join-timeout", "ROOST_JOIN_TIMEOUT", 60.0, "seconds to keep trying seeds", "float"),
    Option("--insecure", "ROOST_INSECURE", False, "allow cluster mode without a secret", "bool"),
    Option("--serf-bin", "ROOST_SERF_BIN", "serf", "the serf binary"),
    Option("--serf-rpc", "ROOST_SERF_RPC", None, "attach to an existing serf agent (host:port)"),
    Option(
        "--vnodes",
        "ROOST_VNODES",
        DEFAULT_VNODES,
        "virtual nodes per member on the hash ring",
        "int",
    ),
    Option("--max-body", "ROOST_MAX_BODY", 1 << 20, "largest request body in bytes", "int"),
    Option(
        "--max-inflight",
        "ROOST_MAX_INFLIGHT",
        10_000,
        "invocations this node runs or routes at once; past it callers get 429 at once",
        "int",
    ),
    Option(
        "--request-timeout",
        "ROOST_REQUEST_TIMEOUT",
        30.0,
        "default deadline of one invocation in seconds",
        "float",
    ),
    Option(
        "--proxy-http",
        "ROOST_PROXY_HTTP_ADDR",
        None,
        "Spawn protocol listener for actor hosts (default: port 9001 on the --http host, "
        "best effort; 'off' disables)",
    ),
    Option(
        "--probe-http",
        "ROOST_PROBE_HTTP_ADDR",
        None,
        "listener for /healthz and /readyz only, answered by a thread ahead of queued work "
        "(default: off; the API port answers them too)",
    ),
    Option(
        "--actor-host-port",
        "ROOST_ACTOR_HOST_PORT",
        8090,
        "port Spawn actor hosts serve on, at the address they registered from",
        "int",
    ),
    Option(
        "--actor-host", "ROOST_ACTOR_HOST", None, "URL of every actor host (overrides the port)"
    ),
    Option(
        "--system-statestore",
        "ROOST_SYSTEM_STATESTORES",
        "",
        "a system with a statestore of its own: NAME=URL (repeat the flag; ';' between pairs "
        "in the variable); other systems use --statestore",
        "pairs;",
    ),
    Option(
        "--remote-system",
        "ROOST_REMOTE_SYSTEMS",
        "",
        "a system hosted by another Roost cluster: NAME=URL of its API (repeatable or a comma "
        "list); its token comes from ROOST_REMOTE_TOKENS",
        "pairs,",
    ),
    Option("--log-level", "ROOST_LOG_LEVEL", "info", "debug, info, warning or error"),
    Option("--log-format", "ROOST_LOG_FORMAT", "text", "text or json"),
    Option(
        "--tls-cert",
        "ROOST_TLS_CERT",
        None,
        "PEM certificate (chain) of the HTTP API; with --tls-key it serves HTTPS only and peers "
        "are called over https",
    ),
    Option("--tls-key", "ROOST_TLS_KEY", None, "PEM private key of --tls-cert (unencrypted)"),
    Option(
        "--tls-ca",
        "ROOST_TLS_CA",
        None,
        "PEM CA bundle peers (and remote clusters) are verified against (default: the system "
        "store); with --tls-cert, /internal/ routes also require a client certificate it signed",
    ),
    Option(
        "--metrics-auth",
        "ROOST_METRICS_AUTH",
        False,
        "with ROOST_API_TOKENS set, /metrics needs a token too (default: open for scrapes)",
        "bool",
    ),
    Option(
        "--otlp-endpoint",
        "ROOST_OTLP_ENDPOINT",
        None,
        "send traces over OTLP/HTTP to this base URL (e.g. http://collector:4318); the standard "
        "OTEL_* variables also turn tracing on and tune it (docs/observability.md)",
    ),
    Option(
        "--policies",
        "ROOST_POLICIES_DIR",
        None,
        "directory of ACL policy files (*.yaml, *.yml, *.json); default: every call allowed",
    ),
)

PROXY_PORT = 9001  # Spawn's proxy port, where its SDKs look by default
PROBE_PORT = 8801  # --probe-http without a port

SECRET_ENV = (
    "ROOST_STATESTORE_KEY",
    "ROOST_STATESTORE_OLD_KEYS",
    "ROOST_CLUSTER_SECRET",
    "ROOST_CLUSTER_OLD_SECRETS",
    "ROOST_SYSTEM_KEYS",
    "ROOST_REMOTE_TOKENS",
    "ROOST_API_TOKENS",
)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything a `Node` needs; built once, never read from the environment afterwards."""

    systems: tuple[str, ...] = ("spawn-system",)
    node_id: str = field(default_factory=socket.gethostname)
    actors: tuple[str, ...] = ()
    http: str = "0.0.0.0:8800"
    advertise: str | None = None
    gossip: str = "0.0.0.0:7946"
    link: str | None = None  # None: the --http host, port 0 (the OS picks; gossip tells peers)
    link_advertise: str | None = None  # None: the advertised HTTP host, the bound link port
    seeds: tuple[str, ...] = ()
    statestore: str = "sqlite:///roost-data/roost.db"
    statestore_key: str | None = None
    statestore_old_keys: tuple[str, ...] = ()
    cluster_secret: str | None = None
    # ROOST_CLUSTER_OLD_SECRETS: still accepted (gossip and signatures), never used, in a rotation
    cluster_old_secrets: tuple[str, ...] = field(default=(), repr=False)
    drain_timeout: float = 25.0
    lease: float = 10.0
    join_timeout: float = 60.0
    insecure: bool = False
    serf_bin: str = "serf"
    serf_rpc: str | None = None
    vnodes: int = DEFAULT_VNODES
    max_body: int = 1 << 20
    # each call in flight holds a task, a connection and its payload; 10k is far more than one
    # event loop turns over in a deadline (turns take ms), so it caps a flood, not a busy node
    max_inflight: int = 10_000
    request_timeout: float = 30.0
    proxy_http: str | None = None  # None: port 9001 on the --http host, skipped if taken
    probe_http: str | None = None  # None: no probe listener
    actor_host_port: int = 8090
    actor_host: str | None = None
    system_statestore: tuple[tuple[str, str], ...] = ()  # (system, URL)
    system_keys: tuple[tuple[str, str], ...] = ()  # (system, key): ROOST_SYSTEM_KEYS
    remote_system: tuple[tuple[str, str], ...] = ()  # (system, API URL)
    remote_tokens: tuple[tuple[str, str], ...] = ()  # (system, token): ROOST_REMOTE_TOKENS
    log_level: str = "info"
    log_format: str = "text"
    tls_cert: str | None = None  # with tls_key: HTTPS only, peers called over https
    tls_key: str | None = None
    tls_ca: str | None = None  # None: the system store verifies peers; set: mutual TLS too
    api_tokens: tuple[str, ...] = field(default=(), repr=False)  # ROOST_API_TOKENS (secret)
    metrics_auth: bool = False  # /metrics needs a token too (only with api_tokens)
    policies: str | None = None  # directory of ACL policy files; None: allow every call
    otlp_endpoint: str | None = None  # OTLP/HTTP base URL; tracing also follows OTEL_* variables
    demo: bool = False

    @property
    def system(self) -> str:
        return self.systems[0]

    @property
    def cluster_mode(self) -> bool:
        return bool(self.seeds) or self.serf_rpc is not None

    @property
    def http_host_port(self) -> tuple[str, int]:
        return split_host_port(self.http, 8800, "--http")

    @property
    def advertise_http(self) -> str:
        """The host:port peers use for this node's HTTP API."""
        host, port = self.http_host_port
        if self.advertise:
            ahost, aport = split_host_port(self.advertise, port, "--advertise")
            return f"{ahost}:{aport}"
        if host in ("0.0.0.0", "::", ""):
            ghost, _ = split_host_port(self.gossip, 7946, "--gossip")
            host = ghost if ghost not in ("0.0.0.0", "::", "") else _primary_ip()
        return f"{host}:{port}"

    @property
    def proxy_host_port(self) -> tuple[str, int] | None:
        """Where the Spawn protocol listener binds; None when it is off."""
        if self.proxy_http is None:
            return self.http_host_port[0], PROXY_PORT
        if self.proxy_http.lower() in ("off", "none", ""):
            return None
        return split_host_port(self.proxy_http, PROXY_PORT, "--proxy-http")

    @property
    def probe_host_port(self) -> tuple[str, int] | None:
        """Where the probe listener binds; None when it is off."""
        if self.probe_http is None or self.probe_http.lower() in ("off", "none", ""):
            return None
        return split_host_port(self.probe_http, PROBE_PORT, "--probe-http")

    @property
    def link_host_port(self) -> tuple[str, int] | None:
        """Where the peer link listens; None when it is off (peers then forward over HTTP)."""
        if self.link is None:
            return self.http_host_port[0], 0
        if self.link.lower() in ("off", "none", ""):
            return None
        return split_host_port(self.link, 0, "--link")

    def link_tag(self, port: int) -> str:
        """The `link` gossip tag: `--link-advertise`, else the host peers reach the HTTP API at
        with the port the link listens on."""
        if self.link_advertise:
            host, port = split_host_port(self.link_advertise, port, "--link-advertise")
        else:
            host, _ = split_host_port(self.advertise_http, 0, "--advertise")
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def validate(self) -> None:
        if not self.systems:
            raise ConfigError("no actor system: pass --system NAME")
        self.http_host_port  # noqa: B018 - parses and raises ConfigError when malformed
        self.probe_host_port  # noqa: B018
        if self.drain_timeout <= 0 or self.lease <= 0 or self.request_timeout <= 0:
            raise ConfigError("--drain-timeout, --lease and --request-timeout must be positive")
        if not 1 <= self.vnodes <= 10_000:
            raise ConfigError("--vnodes must be between 1 and 10000")
        if self.max_inflight < 1:  # 0 would be "unbounded": every bound here is explicit
            raise ConfigError(f"--max-inflight must be at least 1, got {self.max_inflight}")
        self.proxy_host_port  # noqa: B018 - parses and raises ConfigError when malformed
        self.link_host_port  # noqa: B018 - parses and raises ConfigError when malformed
        if not 1 <= self.actor_host_port <= 65535:
            raise ConfigError("--actor-host-port must be between 1 and 65535")
        if self.actor_host is not None and not self.actor_host.startswith(("http://", "https://")):
            raise ConfigError(f"--actor-host must be an http(s):// URL, got {self.actor_host!r}")
        if self.log_format not in ("text", "json"):
            raise ConfigError("--log-format must be text or json")
        if (self.tls_cert is None) != (self.tls_key is None):  # the files load in `Node`
            missing = (
                "--tls-key / ROOST_TLS_KEY"
                if self.tls_key is None
                else "--tls-cert / ROOST_TLS_CERT"
            )
            raise ConfigError(f"--tls-cert and --tls-key go together: {missing} is not set")


def split_host_port(addr: str, default_port: int, what: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        host, port = addr, str(default_port)
    host = host.strip("[]")
    try:
        p = int(port)
    except ValueError:
        raise ConfigError(f"{what}: {addr!r} is not host:port") from None
    if not 0 <= p <= 65535:
        raise ConfigError(f"{what}: port {p} is out of range")
    return host, p


def _primary_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for o in OPTIONS:
        env = f" [env {o.env}]" if o.env else ""
        if o.kind == "bool":
            parser.add_argument(o.flag, action="store_true", default=None, help=o.help + env)
        elif o.flag == "--system" or o.kind.startswith("pairs"):
            parser.add_argument(o.flag, action="append", default=None, help=o.help + env)
        else:
            parser.add_argument(o.flag, default=None, help=f"{o.help} (default {o.default}){env}")


def from_args(ns: argparse.Namespace, env: Mapping[str, str] | None = None) -> NodeConfig:
    """Flags win over environment variables, which win over defaults."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for o in OPTIONS:
        raw = getattr(ns, o.dest, None)
        if raw is None and o.env and env.get(o.env, "") != "":
            raw = env[o.env]
        if raw is None:
            continue
        values[o.dest] = _convert(o, raw)
    systems = values.pop("system", None)
    if systems:
        values["systems"] = tuple(systems)
    cfg = NodeConfig(
        **values,
        statestore_key=env.get("ROOST_STATESTORE_KEY") or None,
        statestore_old_keys=_split(env.get("ROOST_STATESTORE_OLD_KEYS", "")),
        cluster_secret=env.get("ROOST_CLUSTER_SECRET") or None,
        cluster_old_secrets=_split(env.get("ROOST_CLUSTER_OLD_SECRETS", "")),
        system_keys=_pairs("ROOST_SYSTEM_KEYS", env.get("ROOST_SYSTEM_KEYS", ""), ";"),
        remote_tokens=_pairs("ROOST_REMOTE_TOKENS", env.get("ROOST_REMOTE_TOKENS", ""), ",;"),
        api_tokens=_split(env.get("ROOST_API_TOKENS", "")),
    )
    cfg.validate()
    return cfg


def _split(raw: str | Sequence[str]) -> tuple[str, ...]:
    parts = [raw] if isinstance(raw, str) else list(raw)
    return tuple(x.strip() for p in parts for x in p.split(",") if x.strip())


def _pairs(what: str, raw: str | Sequence[str], seps: str) -> tuple[tuple[str, str], ...]:
    """`NAME=VALUE` items, from repeated flags or one string separated by any of `seps`."""
    items = [raw] if isinstance(raw, str) else list(raw)
    out: list[tuple[str, str]] = []
    for item in items:
        text = item
        for sep in seps[1:]:
            text = text.replace(sep, seps[0])
        for part in text.split(seps[0]):
            if not part.strip():
                continue
            name, eq, value = part.strip().partition("=")
            if not eq or not name.strip() or not value.strip():
                raise ConfigError(f"{what}: {part.strip()[:80]!r} is not NAME=VALUE")
            out.append((name.strip(), value.strip()))
    names = [n for n, _ in out]
    if len(names) != len(set(names)):
        raise ConfigError(f"{what}: a system is named twice")
    return tuple(out)


def _convert(o: Option, raw: Any) -> Any:
    if o.kind.startswith("pairs"):
        return _pairs(o.flag, raw, o.kind[len("pairs") :])
    if o.kind == "list":
        return _split(raw)
    if o.kind == "bool":
        return raw is True or str(raw).lower() in ("1", "true", "yes", "on")
    try:
        if o.kind == "int":
            return int(raw)
        if o.kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{o.flag} / {o.env}: {raw!r} is not a number") from None
    return str(raw)
