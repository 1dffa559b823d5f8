"""The pure mapping: ActorSystem and ActorHost to chart values, problems and ignored fields."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from roost.operator.conditions import Problem, ignored, merged, refused
from roost.operator.host import Plan, Secrets, split_image, system_name
from roost.operator.plan import plan_host
from roost.operator.system import SQLITE_URL, read_system, statestore_url

from .conftest import KEY, SETTINGS, example, fixture

SECRETS = Secrets("mysql://u:p@db:3306/d?pool_size=10", KEY, "s" * 40)
CREDENTIALS = {
    "host": "mysql",
    "port": "3306",
    "database": "eigr-functions-db",
    "username": "admin",
    "password": "admin",
    "encryptionKey": KEY,
}


def system(**statestore: Any) -> dict[str, Any]:
    out = fixture("spawn-system.yaml")
    out["spec"]["statestore"] = statestore
    return out


def plan(host: dict[str, Any], sys: dict[str, Any] | None = None) -> Plan:
    result = plan_host(host, read_system(sys or fixture("spawn-system.yaml")), SECRETS, SETTINGS)
    assert isinstance(result, Plan), result
    return result


def problems(host: dict[str, Any], sys: dict[str, Any] | None = None) -> list[Problem]:
    result = plan_host(host, read_system(sys or fixture("spawn-system.yaml")), SECRETS, SETTINGS)
    assert isinstance(result, list), result
    return result


# --- ActorSystem -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "scheme"),
    [
        ("Postgres", "postgresql"),
        ("postgres", "postgresql"),
        ("MySql", "mysql"),
        ("MariaDB", "mysql"),
        ("mariadb", "mysql"),
        ("Sqlite", "sqlite"),
    ],
)
def test_supported_statestores_map_to_url_schemes(kind: str, scheme: str) -> None:
    view = read_system(system(type=kind, credentialsSecretRef="creds"))
    assert view.problems == () and view.scheme == scheme


@pytest.mark.parametrize("kind", ["Native", "native", "MSSQL", "CockroachDB", "redis"])
def test_other_statestores_are_refused_naming_the_supported_ones(kind: str) -> None:
    (problem,) = read_system(system(type=kind, credentialsSecretRef="creds")).problems
    assert problem.reason == "UnsupportedStatestore"
    assert kind in problem.message and "Postgres, MySql, MariaDB or Sqlite" in problem.message


def test_a_shared_statestore_needs_its_credentials_secret_ref() -> None:
    (problem,) = read_system(system(type="MySql")).problems
    assert problem.reason == "MissingCredentialsSecretRef"
    assert "spec.statestore.credentialsSecretRef" in problem.message
    assert read_system(system(type="Sqlite")).problems == ()


def test_a_system_without_statestore_is_refused() -> None:
    sys = fixture("spawn-system.yaml")
    del sys["spec"]["statestore"]
    assert [p.reason for p in read_system(sys).problems] == ["MissingStatestore"]


@pytest.mark.parametrize(("size", "ok"), [("10", True), (20, True), ("0", False), ("ten", False)])
def test_pool_size_is_a_positive_number_either_spelling(size: Any, ok: bool) -> None:
    view = read_system(system(type="MySql", credentialsSecretRef="c", pool={"size": size}))
    assert (view.problems == ()) is ok
    if ok:
        assert view.pool_size == int(size)


def test_the_seed_statestore_url_comes_from_spawns_credentials_keys() -> None:
    view = read_system(fixture("spawn-system.yaml"))
    url, found = statestore_url(view, CREDENTIALS)
    assert found == []
    assert url == "mysql://admin:admin@mysql:3306/eigr-functions-db?pool_size=10"


def test_url_parts_are_percent_encoded() -> None:
    view = read_system(system(type="Postgres", credentialsSecretRef="c"))
    creds = {**CREDENTIALS, "password": "p@ss/w:rd?#", "port": "", "host": "fd00::1"}
    url, _ = statestore_url(view, creds)
    parts = urlsplit(url)
    assert parts.scheme == "postgresql" and parts.port == 5432  # the type's default port
    assert parts.hostname == "fd00::1" and unquote(parts.password or "") == "p@ss/w:rd?#"


def test_postgres_ssl_switches_become_sslmode() -> None:
    view = read_system(example("system-tls-nats.yaml"))
    url, _ = statestore_url(view, CREDENTIALS)
    assert url.endswith("?pool_size=20&sslmode=verify-full")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"encryptionKey": ""}, "CredentialsIncomplete"),
        ({"host": ""}, "CredentialsIncomplete"),
        ({"encryptionKey": "c2hvcnQ="}, "InvalidEncryptionKey"),
        ({"port": "mysql"}, "InvalidPort"),
    ],
)
def test_bad_credentials_are_named(change: dict[str, str], reason: str) -> None:
    url, (problem,) = statestore_url(
        read_system(fixture("spawn-system.yaml")), {**CREDENTIALS, **change}
    )
    assert url == "" and problem.reason == reason and "mysql-connection-secret" in problem.message


def test_sqlite_needs_no_credentials() -> None:
    assert statestore_url(read_system(system(type="Sqlite")), {}) == (SQLITE_URL, [])


def test_nats_invocation_and_pool_queue_are_reported_and_erlang_mtls_becomes_tls() -> None:
    view = read_system(example("system-features.yaml"))
    assert view.problems == () and view.pool_size == 10
    assert view.tls == {"enabled": True, "secretName": "spawn-mtls"}
    text = " ".join(view.ignored)
    for field in ("features.nats", "features.multiCluster", "pool.queue", "spec.cluster.kind"):
        assert field in text, field
    view = read_system(example("system-getting-started.yaml"))
    assert any(i.startswith("spec.externalInvocation:") for i in view.ignored)


def test_spawn_mesh_settings_are_reported_and_cluster_tls_is_used() -> None:
    view = read_system(example("system-tls-nats.yaml"))
    assert view.tls == {"enabled": True, "issuerRef": {"name": "spawn-ca", "kind": "Issuer"}}
    text = " ".join(view.ignored)
    assert "spec.cluster.kind" in text and "spec.cluster.systemToSystem" in text
    assert any(
        "spec.mesh.cookie" in i for i in read_system(example("system-postgres-mesh.yaml")).ignored
    )


# --- ActorHost ---------------------------------------------------------------------------


def test_the_seed_host_maps_to_an_autoscaled_cluster_with_a_spawn_host_beside_each_node() -> None:
    result = plan(fixture("elixir-example.yaml"))
    values = result.values
    assert values["fullnameOverride"] == "elixir-example" and values["system"] == "spawn-system"
    assert values["autoscaling"] == {"enabled": True, "minReplicas": 1, "maxReplicas": 2}
    assert values["image"] == {"repository": "registry.example/roost", "tag": "0.1.0", "digest": ""}
    assert values["actors"] == []
    host = values["actorHost"]
    assert host["enabled"] and host["image"] == "org/your-host-image:0.0.1"
    # port 8800 is the host's: the node moves its HTTP port, and renames nothing else
    assert host["ports"] == [{"name": "host-http", "containerPort": 8800}]
    assert values["http"] == {"port": 8801}
    assert values["spawnProtocol"] == {"port": 9001, "actorHostPort": 8090, "loopbackOnly": True}
    assert values["secrets"] == {
        "statestoreUrl": SECRETS.statestore_url,
        "statestoreKey": KEY,
        "clusterSecret": SECRETS.cluster_secret,
    }
    assert any("spec.host.embedded" in i for i in result.ignored)
    assert any("8801" in n for n in result.notes)


def test_mapping_is_deterministic() -> None:
    host = fixture("elixir-example.yaml")
    assert plan(host).values == plan(copy.deepcopy(host)).values


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"replicas": -1}, "InvalidReplicas"),
        ({"replicas": "two"}, "InvalidReplicas"),
        ({"autoscaler": {"min": 3, "max": 2}}, "InvalidAutoscaler"),
        ({"terminationGracePeriodSeconds": 30}, "GracePeriodTooShort"),
        ({"host": {"image": "x", "ports": [{"containerPort": 9001}]}}, "HostPortConflict"),
        ({"host": {"image": "x", "ports": [{"containerPort": 7946}]}}, "HostPortConflict"),
        ({"host": {"image": ""}}, "MissingImage"),
    ],
)
def test_bad_hosts_are_refused_with_a_reason(spec: dict[str, Any], reason: str) -> None:
    host = fixture("elixir-example.yaml")
    host["spec"].pop("autoscaler")
    host["spec"].update(spec)
    assert reason in [p.reason for p in problems(host)]


def test_sqlite_takes_one_replica_only() -> None:
    host = fixture("elixir-example.yaml")  # autoscaler max 2
    (problem,) = problems(host, system(type="Sqlite"))
    assert problem.reason == "SqliteSingleReplica" and "spec.autoscaler.max is 2" in problem.message
    del host["spec"]["autoscaler"]
    assert plan(host, system(type="Sqlite")).values["replicaCount"] == 1


@pytest.mark.parametrize(
    "name", ["host-springboot-annotations.yaml", "host-backpressure-annotations.yaml"]
)
def test_every_spawn_annotation_is_used_or_reported(name: str) -> None:
    host = example(name)
    result = plan(host)
    reported = " ".join(result.ignored)
    used = {
        "spawn-eigr.io/actor-system",
        "spawn-eigr.io/app-port",
        "spawn-eigr.io/sidecar-http-port",
        "spawn-eigr.io/sidecar-metrics-disabled",
        "spawn-eigr.io/sidecar-mode",
    }
    for key in host["metadata"]["annotations"]:
        assert key in used or f"annotation {key}=" in reported, key
    assert "not an annotation Roost knows" not in reported


def test_an_unknown_spawn_annotation_is_reported() -> None:
    host = fixture("elixir-example.yaml")
    host["metadata"]["annotations"]["spawn-eigr.io/sidecar-colour"] = "blue"
    assert any(
        "sidecar-colour=blue: not an annotation Roost knows" in i for i in plan(host).ignored
    )


def test_annotation_ports_move_the_protocol_and_the_callback_port() -> None:
    host = fixture("elixir-example.yaml")
    host["metadata"]["annotations"].update(
        {"spawn-eigr.io/sidecar-http-port": "9101", "spawn-eigr.io/app-port": "8091"}
    )
    values = plan(host).values
    assert values["spawnProtocol"] == {"port": 9101, "actorHostPort": 8091, "loopbackOnly": True}
    host["metadata"]["annotations"]["spawn-eigr.io/app-port"] = "http"
    assert [p.reason for p in problems(host)] == ["InvalidAnnotation"]


def test_the_full_schema_example_maps_placement_env_volumes_and_reports_task_actors() -> None:
    result = plan(example("host-full-schema.yaml"))
    values = result.values
    assert values["replicaCount"] == 2 and values["terminationGracePeriodSeconds"] == 405
    assert values["nodeSelector"] == {"pool": "actors"}
    assert values["tolerations"][0]["key"] == "dedicated"
    assert values["affinity"]["podAntiAffinity"]
    assert values["extraVolumes"] == [
        {"name": "config", "configMap": {"name": "my-java-app-config"}}
    ]
    host = values["actorHost"]
    assert [e["name"] for e in host["env"]] == ["JAVA_OPTS", "POD_NAMESPACE"]
    assert host["volumeMounts"] == [{"name": "config", "mountPath": "/app/config"}]
    assert host["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}
    assert any("spec.host.taskActors" in i for i in result.ignored)


def test_spawn_acl_policies_become_roost_policies() -> None:
    values = plan(example("host-acl.yaml")).values
    assert values["policies"] == [
        {
            "name": "allow-all-from-same-actorsystem",
            "type": "allow",
            "actors": ["*"],
            "actions": ["get", "sum"],
            "from": ["spawn-system/*"],
        }
    ]
    assert values["autoscaling"]["minReplicas"] == 1 and values["autoscaling"]["maxReplicas"] == 3


def test_roost_settings_come_from_the_system_and_the_host_overrides_them() -> None:
    sys = fixture("spawn-system.yaml")
    sys["spec"]["roost"] = {
        "leaseSeconds": 15,
        "drainTimeoutSeconds": 40,
        "logLevel": "debug",
        "tls": {"secretName": "roost-tls"},
    }
    host = fixture("elixir-example.yaml")
    host["spec"]["roost"] = {
        "drainTimeoutSeconds": 20,
        "tracing": {"endpoint": "http://otel:4317"},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
        "podDisruptionBudget": {"maxUnavailable": 2},
        "policies": [{"name": "no-resets", "type": "deny", "actions": ["reset"], "from": ["!*"]}],
    }
    result = plan(host, sys)
    values = result.values
    assert values["config"] == {"ROOST_LEASE_SECONDS": "15"}
    assert values["drainTimeout"] == 20 and values["log"]["level"] == "debug"
    assert values["tls"] == {"enabled": True, "secretName": "roost-tls"}
    assert values["metrics"]["serviceMonitor"] == {"enabled": True, "labels": {"release": "prom"}}
    assert values["podDisruptionBudget"] == {"maxUnavailable": 2}
    assert values["policies"][-1]["name"] == "no-resets"
    env = {e["name"]: e.get("value") for e in values["actorHost"]["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel:4317"
    assert values["tracing"] == {"otlpEndpoint": "http://otel:4317"}  # the nodes trace too
    assert any("send their traces there" in n for n in result.notes)


def test_tls_without_a_secret_or_issuer_is_refused() -> None:
    host = fixture("elixir-example.yaml")
    host["spec"]["roost"] = {"tls": {"enabled": True}}
    assert [p.reason for p in problems(host)] == ["TLSIncomplete"]


def test_a_roost_image_with_python_actors_runs_as_the_node() -> None:
    host = fixture("elixir-example.yaml")
    host["spec"]["host"] = {"image": "registry.example/shop@sha256:" + "a" * 64}
    host["spec"]["roost"] = {"pythonActors": ["shop.actors:Cart"]}
    values = plan(host).values
    assert values["actorHost"] == {"enabled": False}
    assert values["actors"] == ["shop.actors:Cart"]
    assert values["image"] == {
        "repository": "registry.example/shop",
        "tag": "",
        "digest": "sha256:" + "a" * 64,
    }
    assert values["http"] == {"port": 8800}
    assert values["spawnProtocol"]["loopbackOnly"] is False  # other hosts may register


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("org/img:1.2", ("org/img", "1.2", "")),
        ("localhost:5000/img", ("localhost:5000/img", "latest", "")),
        ("img@sha256:ab", ("img", "", "sha256:ab")),
    ],
)
def test_split_image(ref: str, expected: tuple[str, str, str]) -> None:
    assert tuple(split_image(ref).values()) == expected


def test_system_name_from_the_annotation_or_spawns_older_label() -> None:
    host = fixture("elixir-example.yaml")
    assert system_name(host) == "spawn-system"
    host["metadata"]["annotations"] = {}
    host["metadata"]["labels"] = {"spawn-eigr.io.actor-system": "old-style"}
    assert system_name(host) == "old-style"
    host["metadata"]["labels"] = {}
    assert system_name(host) == ""


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    first = merged([], [refused([Problem("A", "a")]), ignored([])], "t1", 1)
    assert first[0]["status"] == "False" and first[1]["reason"] == "NothingIgnored"
    again = merged(
        first, [refused([Problem("A", "a"), Problem("B", "b")]), ignored(["x"])], "t2", 2
    )
    assert again[0]["lastTransitionTime"] == "t1" and again[0]["reason"] == "Invalid"
    assert again[0]["message"] == "a; b"
    assert again[1]["lastTransitionTime"] == "t2" and again[1]["status"] == "True"
