"""`plan_host`: one ActorHost, its ActorSystem and its secrets in, chart values (or the
problems that refuse it) out. Pure; see host.py for the pieces it uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .conditions import Problem
from .host import (
    ACTOR_HOST_PORT,
    GOSSIP,
    LINK,
    MAX_NAME,
    NODE_HTTP,
    NODE_PORT_NAMES,
    NODE_PROBES,
    SPAWN_PORT,
    Manifest,
    Plan,
    Secrets,
    Settings,
    Values,
    acl_policies,
    annotation_port,
    deep_merge,
    note_annotations,
    split_image,
    tls_values,
)
from .system import SystemView


def _scale(spec: Mapping[str, Any], sqlite: bool, problems: list[Problem]) -> Values:
    """replicaCount, or the autoscaling values from Spawn's autoscaler."""
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        problems.append(
            Problem("InvalidReplicas", f"spec.replicas {replicas!r} must be a whole number >= 0")
        )
        replicas = 1
    auto = spec.get("autoscaler")
    if auto is None:
        if sqlite and replicas > 1:
            problems.append(_sqlite_problem(f"spec.replicas is {replicas}"))
        return {"replicaCount": replicas, "autoscaling": {"enabled": False}}
    low, high = auto.get("min", 1), auto.get("max", max(auto.get("min", 1), 1))
    if not all(isinstance(v, int) and v >= 1 for v in (low, high)) or low > high:
        problems.append(
            Problem(
                "InvalidAutoscaler",
                f"spec.autoscaler min {low!r} and max {high!r} must be whole numbers, "
                "1 <= min <= max",
            )
        )
        return {"replicaCount": 1, "autoscaling": {"enabled": False}}
    if sqlite and high > 1:
        problems.append(_sqlite_problem(f"spec.autoscaler.max is {high}"))
    autoscaling: Values = {"enabled": True, "minReplicas": low, "maxReplicas": high}
    if "averageCpuUtilizationPercentage" in auto:
        autoscaling["targetCPUUtilizationPercentage"] = auto["averageCpuUtilizationPercentage"]
    return {"replicaCount": low, "autoscaling": autoscaling}


def _sqlite_problem(what: str) -> Problem:
    return Problem(
        "SqliteSingleReplica",
        f"{what}, but a Sqlite statestore is a file inside one pod: use one replica, or a "
        "Postgres, MySql or MariaDB statestore that every node shares",
    )


def _stopping(spec: Mapping[str, Any], roost: Mapping[str, Any], problems: list[Problem]) -> Values:
    """Drain, preStop sleep and grace period; the grace period must outlast the other two."""
    out: Values = {}
    drain = roost.get("drainTimeoutSeconds", 25)
    pre_stop = roost.get("preStopSleepSeconds", 5)
    out["drainTimeout"] = drain
    out["preStopSleepSeconds"] = pre_stop
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None:
        if grace <= pre_stop + drain:
            problems.append(
                Problem(
                    "GracePeriodTooShort",
                    f"spec.terminationGracePeriodSeconds {grace} must exceed the preStop sleep "
                    f"plus the drain ({pre_stop} + {drain}): a node killed mid-drain loses the "
                    "state it had not flushed",
                )
            )
        out["terminationGracePeriodSeconds"] = grace
    return out


def _host_ports(
    host: Mapping[str, Any], app_port: int, spawn_port: int, problems: list[Problem]
) -> tuple[list[dict[str, Any]], int, int, list[str]]:
    """The host container's ports (names clear of the node's) and the node's HTTP and probe
    ports, moved off any port the host uses: the containers of a pod share one network."""
    notes: list[str] = []
    ports = []
    taken = set()
    for port in host.get("ports") or []:
        item = dict(port)
        if item.get("name") in NODE_PORT_NAMES:
            item["name"] = f"host-{item['name']}"[:15]
        ports.append(item)
        taken.add(int(item["containerPort"]))
    for busy, what in (
        (GOSSIP, "Serf gossip"),
        (LINK, "the peer link"),
        (spawn_port, "the Spawn protocol"),
    ):
        if busy in taken:
            problems.append(
                Problem(
                    "HostPortConflict",
                    f"spec.host.ports: {busy} is the node's port for {what} in the same pod",
                )
            )
    if app_port in (GOSSIP, LINK, spawn_port):
        problems.append(
            Problem("HostPortConflict", f"annotation spawn-eigr.io/app-port {app_port} is taken")
        )
    avoid = taken | {GOSSIP, LINK, spawn_port, app_port}
    http = _free(NODE_HTTP, avoid)
    probes = _free(NODE_PROBES, avoid | {http})
    if http != NODE_HTTP:
        notes.append(
            f"the host uses port {NODE_HTTP} (spec.host.ports or spawn-eigr.io/app-port), so the "
            f"node serves HTTP on {http}; the client Service still answers on {NODE_HTTP}"
        )
    if probes != NODE_PROBES:
        notes.append(f"the node answers its probes on port {probes}")
    return ports, http, probes, notes


def _free(port: int, avoid: set[int]) -> int:
    """The first port from `port` up that is not in `avoid`."""
    while port in avoid:
        port += 1
    return port


def _containers(
    name: str,
    spec: Mapping[str, Any],
    roost: Mapping[str, Any],
    settings: Settings,
) -> tuple[Values, list[str], list[str]]:
    """The node container, and the Spawn SDK host beside it unless the host is a Roost image."""
    host = spec.get("host") or {}
    env = list(spec.get("env") or []) + list(host.get("env") or [])
    endpoint = (roost.get("tracing") or {}).get("endpoint")
    notes: list[str] = []
    ignored: list[str] = []
    host_env = list(env)
    values: Values = {"extraVolumes": list(spec.get("volumes") or [])}
    if endpoint:
        values["tracing"] = {"otlpEndpoint": str(endpoint)}  # the nodes export their spans
        host_env += [  # and a Spawn SDK host beside a node may export its own
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": endpoint},
            {"name": "OTEL_SERVICE_NAME", "value": name},
        ]
        notes.append(
            "spec.roost.tracing.endpoint: the nodes send their traces there (OTLP over HTTP), "
            "and an SDK host beside them gets it as OTEL_EXPORTER_OTLP_ENDPOINT"
        )
    if roost.get("nodeResources"):
        values["resources"] = roost["nodeResources"]
    if roost.get("pythonActors"):
        # A Roost image with Python actors: it is the node; nothing runs beside it.
        values["image"] = split_image(str(host["image"]))
        values["actors"] = list(roost["pythonActors"])
        values["extraEnv"] = env
        values["extraVolumeMounts"] = list(host.get("volumeMounts") or [])
        if host.get("resources"):
            values["resources"] = host["resources"]
        if host.get("ports"):
            ignored.append(
                "spec.host.ports: a Roost image serves the node's own ports (HTTP 8800, "
                "Spawn protocol 9001)"
            )
        values["actorHost"] = {"enabled": False}
        return values, ignored, notes
    values["image"] = split_image(str(roost.get("image") or settings.node_image))
    values["actors"] = []
    values["actorHost"] = {
        "enabled": True,
        "image": str(host["image"]),
        "env": host_env,
        "volumeMounts": list(host.get("volumeMounts") or []),
    }
    if host.get("resources"):
        values["actorHost"]["resources"] = host["resources"]
    return values, ignored, notes


def _host_ignored(spec: Mapping[str, Any], ignored: list[str]) -> None:
    host = spec.get("host") or {}
    if host.get("embedded"):
        ignored.append(
            "spec.host.embedded: Roost runs its node beside every host, as Spawn's sidecar "
            "mode does; an Elixir host must register with the node at 127.0.0.1:9001 "
            "instead of embedding Spawn's proxy"
        )
    if host.get("taskActors"):
        ignored.append("spec.host.taskActors: Roost has no task actors (worker pools on demand)")
    auto = spec.get("autoscaler") or {}
    if "averageMemoryUtilizationValue" in auto:
        ignored.append(
            "spec.autoscaler.averageMemoryUtilizationValue: the autoscaler targets CPU "
            "utilization (averageCpuUtilizationPercentage)"
        )
    if auto and "replicas" in spec:
        ignored.append("spec.replicas: the autoscaler owns the replica count")


def plan_host(
    host: Manifest, view: SystemView, secrets: Secrets, settings: Settings
) -> Plan | list[Problem]:
    """Chart values for `host` in `view`'s system, or every problem that refuses it."""
    meta = host.get("metadata") or {}
    name = str(meta.get("name", ""))
    spec = host.get("spec") or {}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    problems: list[Problem] = []
    ignored = list(view.ignored)
    if len(name) > MAX_NAME:
        problems.append(
            Problem("NameTooLong", f"metadata.name has {len(name)} characters; at most {MAX_NAME}")
        )
    if not (spec.get("host") or {}).get("image"):
        problems.append(Problem("MissingImage", "spec.host.image is required"))
        return problems
    roost = deep_merge(view.roost, spec.get("roost") or {})
    note_annotations(annotations, ignored)
    _host_ignored(spec, ignored)
    app_port = annotation_port(annotations, "spawn-eigr.io/app-port", ACTOR_HOST_PORT, problems)
    spawn_port = annotation_port(
        annotations, "spawn-eigr.io/sidecar-http-port", SPAWN_PORT, problems
    )
    values: Values = {"fullnameOverride": name, "system": view.name}
    values.update(_scale(spec, view.sqlite, problems))
    values.update(_stopping(spec, roost, problems))
    containers, more_ignored, notes = _containers(name, spec, roost, settings)
    ignored += more_ignored
    values.update(containers)
    http, probes = NODE_HTTP, NODE_PROBES
    if values["actorHost"]["enabled"]:
        ports, http, probes, port_notes = _host_ports(spec["host"], app_port, spawn_port, problems)
        values["actorHost"]["ports"] = ports
        notes += port_notes
    tls = tls_values(view, roost)
    if tls["enabled"] and not tls.get("secretName") and "certManager" not in tls:
        problems.append(
            Problem(
                "TLSIncomplete",
                "TLS needs a Secret (spec.cluster.tls.secretName, spec.roost.tls.secretName) "
                "or a cert-manager issuer (issuerName, spec.roost.tls.issuerRef)",
            )
        )
    if problems:
        return problems
    if "persistence" in roost and not view.sqlite:
        ignored.append("spec.roost.persistence: only a Sqlite statestore keeps files in the pod")
    values.update(_settings(roost, annotations, settings, view, secrets, tls))
    values["http"] = {"port": http}
    values["probes"] = {"port": probes}
    # A Spawn SDK host beside the node registers on loopback: the port (which takes no token)
    # stays off the pod network.
    values["spawnProtocol"] = {
        "port": spawn_port,
        "actorHostPort": app_port,
        "loopbackOnly": bool(values["actorHost"]["enabled"]),
    }
    values["policies"] = acl_policies(spec, roost)
    values.update(_placement(spec))
    values["podLabels"] = {"spawn-eigr.io/actor-system": view.name}
    return Plan(values=values, ignored=tuple(ignored), notes=tuple(notes))


def _settings(
    roost: Mapping[str, Any],
    annotations: Mapping[str, str],
    settings: Settings,
    view: SystemView,
    secrets: Secrets,
    tls: Values,
) -> Values:
    """Roost's own settings (spec.roost), the secrets and the cluster-wide ones."""
    values: Values = {"clusterDomain": settings.cluster_domain, "tls": tls}
    config: dict[str, str] = {}
    if "leaseSeconds" in roost:
        config["ROOST_LEASE_SECONDS"] = str(roost["leaseSeconds"])
    values["config"] = config
    values["log"] = {
        "level": roost.get("logLevel", "info"),
        "format": roost.get("logFormat", "json"),
    }
    values["secrets"] = {
        "statestoreUrl": secrets.statestore_url,
        "statestoreKey": secrets.statestore_key,
        "clusterSecret": secrets.cluster_secret,
    }
    metrics_off = annotations.get("spawn-eigr.io/sidecar-metrics-disabled", "").lower() == "true"
    monitor = dict(roost.get("serviceMonitor") or {})
    values["metrics"] = {
        "podAnnotations": not metrics_off,
        "serviceMonitor": {"enabled": bool(monitor.pop("enabled", False)), **monitor},
    }
    if "podDisruptionBudget" in roost:
        values["podDisruptionBudget"] = dict(roost["podDisruptionBudget"])
    if "persistence" in roost and view.sqlite:
        values["persistence"] = dict(roost["persistence"])
    if "service" in roost:
        values["service"] = dict(roost["service"])
    return values


def _placement(spec: Mapping[str, Any]) -> Values:
    """Affinity, node selector and tolerations (Spawn's spec.topology)."""
    out: Values = {}
    affinity = spec.get("affinity") or (spec.get("host") or {}).get("affinity")
    if affinity:
        out["affinity"] = affinity
    topology = spec.get("topology") or {}
    if topology.get("nodeSelector"):
        out["nodeSelector"] = dict(topology["nodeSelector"])
    if topology.get("tolerations"):
        out["tolerations"] = list(topology["tolerations"])
    return out
