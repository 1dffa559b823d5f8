"""An ActorHost (spawn-eigr.io/v1) and its ActorSystem mapped to values of the Helm chart.

Pure and deterministic: the caller passes the statestore URL and key, the secrets to keep and
fresh ones to use if there are none, so the same inputs always give the same values.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .conditions import Problem
from .system import SystemView

SYSTEM_ANNOTATION = "spawn-eigr.io/actor-system"
# Older Spawn releases named the system in a label of this spelling.
SYSTEM_LABELS = ("spawn-eigr.io.actor-system", "spawn-eigr.io/actor-system")
# The chart's fullname is cut at 50 characters; a longer name would be cut, not refused.
MAX_NAME = 50
NODE_HTTP = 8800
NODE_PROBES = 8801  # the chart's probes.port: /healthz and /readyz on a listener of their own
GOSSIP = 7946
LINK = 7947  # the chart's link.port: the peer link between nodes
SPAWN_PORT = 9001
ACTOR_HOST_PORT = 8090
# Port names the node container uses; a host port named alike is renamed host-<name>.
NODE_PORT_NAMES = {"http", "gossip-tcp", "gossip-udp", "spawn", "probes", "link"}

Manifest = Mapping[str, Any]
Values = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    """The operator's own configuration (environment of its Deployment)."""

    node_image: str
    credentials_namespace: str = "default"
    cluster_domain: str = "cluster.local"


@dataclass(frozen=True, slots=True)
class Secrets:
    """The chart Secret's values: from the credentials, kept from the last render, or fresh."""

    statestore_url: str
    statestore_key: str
    cluster_secret: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Chart values for one ActorHost, with what was ignored and what was adjusted."""

    values: Values
    ignored: tuple[str, ...]
    notes: tuple[str, ...]


def system_name(host: Manifest) -> str:
    """The ActorSystem an ActorHost belongs to (annotation, or Spawn's older label)."""
    meta = host.get("metadata") or {}
    name = (meta.get("annotations") or {}).get(SYSTEM_ANNOTATION)
    labels = meta.get("labels") or {}
    for label in SYSTEM_LABELS:
        name = name or labels.get(label)
    return str(name or meta.get("system") or "")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` merged in, maps recursively, `override` winning."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def split_image(ref: str) -> dict[str, str]:
    """The chart's image values (repository, tag, digest) for an image reference."""
    if "@" in ref:
        repository, digest = ref.split("@", 1)
        return {"repository": repository, "tag": "", "digest": digest}
    colon, slash = ref.rfind(":"), ref.rfind("/")
    if colon > slash:
        return {"repository": ref[:colon], "tag": ref[colon + 1 :], "digest": ""}
    return {"repository": ref, "tag": "latest", "digest": ""}


def annotation_port(
    annotations: Mapping[str, str], key: str, default: int, problems: list[Problem]
) -> int:
    raw = str(annotations.get(key, default)).strip()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        problems.append(Problem("InvalidAnnotation", f"annotation {key} {raw!r} is not a port"))
        return default
    return int(raw)


# Spawn's annotations Roost has no use for, each with why.
_BOUNDED = "every actor's mailbox is bounded and an overloaded node sheds with 429 (README)"
_NO_CRDT = "actor placement is a hash ring over Serf members, with no CRDT registry"
_POOL = "the node manages its own HTTP connections to the host"
_HANDOFF = "state is handed off on the ring's change, flushed to the statestore (DESIGN)"
_IGNORED_ANNOTATIONS = {
    "spawn-eigr.io/app-host": "the node calls the host back at the address it registered from",
    "spawn-eigr.io/cluster-poling-interval": "Serf gossip finds members, no polling",
    "spawn-eigr.io/sidecar-image-tag": "the Roost node image takes the place of Spawn's proxy",
    "spawn-eigr.io/sidecar-uds-enabled": "the host reaches the node over loopback TCP",
    "spawn-eigr.io/sidecar-uds-socket-path": "the host reaches the node over loopback TCP",
    "spawn-eigr.io/sidecar-metrics-port": "the node serves /metrics on its HTTP port",
    "spawn-eigr.io/sidecar-metrics-log-console": "the node has no console metrics reporter",
    "spawn-eigr.io/sidecar-pubsub-adapter": "Roost has no pub/sub adapter",
    "spawn-eigr.io/sidecar-pubsub-nats-hosts": "Roost has no pub/sub adapter",
    "spawn-eigr.io/sidecar-address": "the node listens on every address of the pod",
    "spawn-eigr.io/actors-global-backpressure-enabled": _BOUNDED,
    "spawn-eigr.io/actors-global-backpressure-max-demand": _BOUNDED,
    "spawn-eigr.io/actors-global-backpressure-min-demand": _BOUNDED,
    "spawn-eigr.io/sidecar-crdt-sync-interval": _NO_CRDT,
    "spawn-eigr.io/sidecar-crdt-ship-interval": _NO_CRDT,
    "spawn-eigr.io/sidecar-crdt-ship-debounce": _NO_CRDT,
    "spawn-eigr.io/sidecar-delayed-invokes": "Roost's scheduled invocations are always on",
    "spawn-eigr.io/sidecar-http-pool-count": _POOL,
    "spawn-eigr.io/sidecar-http-pool-size": _POOL,
    "spawn-eigr.io/sidecar-http-pool-max-idle-timeout": _POOL,
    "spawn-eigr.io/sidecar-state-handoff-sync-interval": _HANDOFF,
    "spawn-eigr.io/supervisors-state-handoff-controller": _HANDOFF,
}
_USED_ANNOTATIONS = {
    SYSTEM_ANNOTATION,
    "spawn-eigr.io/app-port",
    "spawn-eigr.io/sidecar-http-port",
    "spawn-eigr.io/sidecar-metrics-disabled",
    "spawn-eigr.io/sidecar-mode",
}


def note_annotations(annotations: Mapping[str, str], ignored: list[str]) -> None:
    for key, value in sorted(annotations.items()):
        if not key.startswith("spawn-eigr.io/") or key in _USED_ANNOTATIONS:
            continue
        why = _IGNORED_ANNOTATIONS.get(key, "not an annotation Roost knows")
        ignored.append(f"annotation {key}={value}: {why}")
    if str(annotations.get("spawn-eigr.io/sidecar-mode", "sidecar")).lower() != "sidecar":
        ignored.append(
            "annotation spawn-eigr.io/sidecar-mode: every pod runs its own Roost node "
            "(sidecar mode); there is no per-machine daemon"
        )


def acl_policies(spec: Mapping[str, Any], roost: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Spawn's accessControlList policies in Roost's form, then Roost's own."""
    acl = ((spec.get("host") or {}).get("configuration") or {}).get("accessControlList") or {}
    out: list[dict[str, Any]] = []
    for spawn in acl.get("policies") or []:
        policy: dict[str, Any] = {"name": spawn["name"], "type": spawn.get("type", "allow")}
        for key in ("actors", "actions"):
            if spawn.get(key):
                policy[key] = list(spawn[key])
        if spawn.get("toActorSystems"):
            policy["systems"] = list(spawn["toActorSystems"])
        if spawn.get("fromActorSystems"):
            # Roost matches the calling actor as system/name; a whole system is system/*.
            policy["from"] = [s if s == "*" else f"{s}/*" for s in spawn["fromActorSystems"]]
        out.append(policy)
    out.extend(copy.deepcopy(list(roost.get("policies") or [])))
    return out


def tls_values(view: SystemView, roost: Mapping[str, Any]) -> dict[str, Any]:
    tls = deep_merge(view.tls, roost.get("tls") or {})
    if not tls or not tls.get("enabled", True):
        return {"enabled": False}
    out: dict[str, Any] = {"enabled": True, "secretName": tls.get("secretName", "")}
    if "caKey" in tls:
        out["caKey"] = tls["caKey"]
    if tls.get("issuerRef"):
        ref = tls["issuerRef"]
        issuer = {k: ref[k] for k in ("name", "kind", "group") if k in ref}
        out["certManager"] = {"issuerRef": issuer}
    return out
