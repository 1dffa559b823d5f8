"""An ActorSystem (spawn-eigr.io/v1) read into Roost terms: its statestore, where its
credentials live, its TLS and Roost settings, and the fields Roost does not use.

Pure: the caller fetches the credentials Secret and passes its decoded data to `statestore_url`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .conditions import Problem

# Statestore types Roost has, by the lower-cased spelling Spawn's users write, to URL schemes.
SCHEMES = {"postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
SUPPORTED = "Postgres, MySql, MariaDB or Sqlite (one replica only)"
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
# Spawn's default database name when the credentials Secret has none.
DEFAULT_DATABASE = "eigr-functions-db"
SQLITE_URL = "sqlite:////var/lib/roost/roost.db"
REQUIRED_KEYS = ("host", "username", "password", "encryptionKey")
DEFAULT_POOL = 10

Manifest = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SystemView:
    """What an ActorSystem asks of Roost, or the problems that stop it."""

    name: str
    namespace: str
    scheme: str = ""
    credentials: str = ""
    pool_size: int = DEFAULT_POOL
    ssl: bool = False
    ssl_verify: bool = False
    tls: Mapping[str, Any] = field(default_factory=dict)
    roost: Mapping[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def sqlite(self) -> bool:
        return self.scheme == "sqlite"


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _pool_size(statestore: Mapping[str, Any], problems: list[Problem]) -> int:
    raw = (statestore.get("pool") or {}).get("size", DEFAULT_POOL)
    try:
        size = int(str(raw).strip())
    except ValueError:
        size = 0
    if size < 1:
        problems.append(
            Problem("InvalidPoolSize", f"spec.statestore.pool.size {raw!r} must be a number >= 1")
        )
        return DEFAULT_POOL
    return size


def _cluster(spec: Mapping[str, Any], ignored: list[str]) -> dict[str, Any]:
    """Spawn's mesh settings: TLS maps to Roost's, the Erlang/QUIC/NATS ones are reported."""
    tls: dict[str, Any] = {}
    for key in ("cluster", "mesh"):
        cluster = spec.get(key) or {}
        for name in ("kind", "cookie"):
            if name in cluster:
                ignored.append(
                    f"spec.{key}.{name}: Roost nodes gossip with Serf over the ActorHost's "
                    "headless Service and authenticate each other with a cluster secret the "
                    "operator generates"
                )
        if (cluster.get("systemToSystem") or {}).get("enabled"):
            ignored.append(
                f"spec.{key}.systemToSystem: Roost reaches other systems' clusters through "
                "their HTTP API (remote systems), not NATS"
            )
        features = cluster.get("features") or {}
        for feature in ("nats", "multiCluster"):
            if (features.get(feature) or {}).get("enabled"):
                ignored.append(
                    f"spec.{key}.features.{feature}: Roost has no NATS transport; other "
                    "clusters are reached through their HTTP API (remote systems)"
                )
        # Spawn's node TLS, and its Erlang mutual TLS: Roost's TLS is mutual with a CA.
        for spawn_tls in (features.get("erlangMtls") or {}, cluster.get("tls") or {}):
            if spawn_tls.get("enabled", True) is False:
                continue
            if spawn_tls.get("secretName"):
                tls = {"enabled": True, "secretName": spawn_tls["secretName"]}
            manager = spawn_tls.get("certManager") or {}
            if manager.get("enabled") and manager.get("issuerName"):
                issuer = {"name": manager["issuerName"], "kind": "Issuer"}
                tls = {"enabled": True, "issuerRef": issuer}
    return tls


def read_system(system: Manifest) -> SystemView:
    """The ActorSystem as Roost will run it; `problems` non-empty means it is refused."""
    meta = system.get("metadata") or {}
    spec = system.get("spec") or {}
    problems: list[Problem] = []
    ignored: list[str] = []
    tls = _cluster(spec, ignored)
    statestore = spec.get("statestore")
    if not statestore:
        problems.append(
            Problem("MissingStatestore", f"spec.statestore is required: type {SUPPORTED}")
        )
        statestore = {}
    kind = str(statestore.get("type", "")).strip()
    scheme = SCHEMES.get(kind.lower(), "")
    if statestore and not scheme:
        problems.append(
            Problem(
                "UnsupportedStatestore",
                f"spec.statestore.type {kind!r} is not a statestore Roost has; use {SUPPORTED}",
            )
        )
    ref = str(statestore.get("credentialsSecretRef") or "")
    if scheme and scheme != "sqlite" and not ref:
        problems.append(
            Problem(
                "MissingCredentialsSecretRef",
                f"spec.statestore.credentialsSecretRef is required for {kind}: the Secret "
                "with host, port, database, username, password and encryptionKey",
            )
        )
    if _truthy((spec.get("externalInvocation") or {}).get("enabled", False)):
        ignored.append(
            "spec.externalInvocation: Roost has no NATS invocation transport; actors of other "
            "clusters are called through their HTTP API (remote systems)"
        )
    if "queue" in (statestore.get("pool") or {}):
        ignored.append("spec.statestore.pool.queue: Roost's pools have no queue target")
    ssl = _truthy(statestore.get("ssl", False))
    ssl_verify = _truthy(statestore.get("ssl_verify", False))
    if (ssl or ssl_verify) and scheme != "postgresql":
        ignored.append(
            "spec.statestore.ssl: only a Postgres statestore URL takes a TLS mode (sslmode); "
            "for MySQL/MariaDB use a TLS-terminating proxy or a private network"
        )
    return SystemView(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "default")),
        scheme=scheme,
        credentials=ref,
        pool_size=_pool_size(statestore, problems),
        ssl=ssl,
        ssl_verify=ssl_verify,
        tls=tls,
        roost=dict(spec.get("roost") or {}),
        ignored=tuple(ignored),
        problems=tuple(problems),
    )


def decode_secret(secret: Manifest) -> dict[str, str]:
    """A Secret's data as text (stringData too, as a fake or a fresh object may carry it)."""
    out = {k: str(v) for k, v in (secret.get("stringData") or {}).items()}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            out[key] = ""
    return out


def _valid_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text.strip(), validate=True)) == 32
    except binascii.Error:
        return False


def statestore_url(view: SystemView, credentials: Mapping[str, str]) -> tuple[str, list[Problem]]:
    """The statestore URL from Spawn's credentials keys, every part percent-encoded."""
    if view.sqlite:
        return SQLITE_URL, []
    where = f"Secret {view.credentials!r}"
    missing = [k for k in REQUIRED_KEYS if not credentials.get(k, "").strip()]
    if missing:
        return "", [
            Problem("CredentialsIncomplete", f"{where} has no {', '.join(missing)} (Spawn's keys)")
        ]
    if not _valid_key(credentials["encryptionKey"]):
        return "", [
            Problem(
                "InvalidEncryptionKey",
                f"{where}: encryptionKey must be base64 of 32 bytes (openssl rand -base64 32)",
            )
        ]
    port_text = credentials.get("port", "").strip() or str(DEFAULT_PORTS[view.scheme])
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return "", [Problem("InvalidPort", f"{where}: port {port_text!r} is not a TCP port")]
    host = credentials["host"].strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    user = quote(credentials["username"].strip(), safe="")
    password = quote(credentials["password"], safe="")
    database = quote(credentials.get("database", "").strip() or DEFAULT_DATABASE, safe="")
    query = f"pool_size={view.pool_size}"
    if view.scheme == "postgresql" and (view.ssl or view.ssl_verify):
        query += "&sslmode=" + ("verify-full" if view.ssl_verify else "require")
    url = f"{view.scheme}://{user}:{password}@{host}:{port_text}/{database}?{query}"
    return url, []
