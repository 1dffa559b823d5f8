"""The operator's reconciliation, offline: Spawn's resources in a fake API, the real chart
rendered by embedded Helm, every object checked against the Kubernetes 1.30 schemas and
against what `helm template` makes of the same settings."""

from __future__ import annotations

import base64
import copy
from types import ModuleType
from typing import Any

import pytest
import yaml

from roost.node.policies import build, parse_text
from roost.operator.chart import MANAGER
from roost.operator.reconcile import Reconciler
from roost.sdk.context import ActorId
from tests.helm.test_chart import validate_crd

from .conftest import FIXTURES, KEY, FakeKube, Manifest, crd, credentials_secret, example
from .schema import errors

KUBE_VERSION = "1.30.0"
SEED_URL = "mysql://admin:admin@mysql:3306/eigr-functions-db?pool_size=10"


@pytest.fixture(scope="module")
def kube_validate() -> ModuleType:
    import kubernetes_validate

    return kubernetes_validate


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def secret_data(kube: FakeKube, namespace: str, name: str) -> dict[str, str]:
    data = kube.one("Secret", namespace, name)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def pod_template(kube: FakeKube, name: str = "elixir-example") -> Manifest:
    return dict(kube.one("StatefulSet", "default", name)["spec"]["template"])


# --- the seed ----------------------------------------------------------------------------


def test_seed_becomes_the_charts_objects_owned_by_the_host(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    outcome = reconciler.host(seed)
    assert conditions(outcome.status)["Accepted"]["status"] == "True"
    assert sorted(o["kind"] for o in kube.owned_by(seed)) == [
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    ]
    for obj in kube.owned_by(seed):
        meta = obj["metadata"]
        assert meta["namespace"] == "default"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == MANAGER
        (ref,) = meta["ownerReferences"]  # the garbage collector deletes them with the host
        assert ref == {
            "apiVersion": "spawn-eigr.io/v1",
            "kind": "ActorHost",
            "name": "elixir-example",
            "uid": seed["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    # what pods read exists before the StatefulSet that starts them
    applied = [a.split("/")[0] for a in kube.applied()]
    assert applied.index("Secret") < applied.index("StatefulSet")
    assert applied.index("ConfigMap") < applied.index("StatefulSet")


def test_seed_objects_equal_helm_template_of_the_same_settings(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest, renderer: Any
) -> None:
    reconciler.host(seed)
    values = yaml.safe_load((FIXTURES / "elixir-example-values.yaml").read_text())
    by_hand = renderer(values, "elixir-example", "default")
    operator = []
    for mine in kube.owned_by(seed):
        obj = copy.deepcopy(mine)
        meta = obj["metadata"]
        del meta["namespace"], meta["ownerReferences"], meta["uid"]
        meta["labels"]["app.kubernetes.io/managed-by"] = "Helm"
        operator.append(obj)

    def key(m: Manifest) -> tuple[str, str]:
        return m["kind"], m["metadata"]["name"]

    assert sorted(operator, key=key) == sorted(by_hand, key=key)


def test_seed_pod_runs_the_host_beside_a_roost_node(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    reconciler.host(seed)
    spec = pod_template(kube)["spec"]
    node, host = spec["containers"]
    assert node["name"] == "roost" and node["image"] == "registry.example/roost:0.1.0"
    assert host["name"] == "actorhost" and host["image"] == "org/your-host-image:0.0.1"
    env = {e["name"]: e.get("value") for e in host["env"]}
    assert env["PROXY_HTTP_HOST"] == "127.0.0.1" and env["PROXY_HTTP_PORT"] == "9001"
    assert env["USER_FUNCTION_PORT"] == "8090"
    # the node: probes on their own port (clear of the host's and the moved HTTP port), a
    # preStop pause, then its drain on SIGTERM
    assert node["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert node["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    probes = next(p for p in node["ports"] if p["name"] == "probes")
    assert probes["containerPort"] == 8802
    assert node["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    # the host keeps serving while the node drains; SIGKILL only after both
    assert host["lifecycle"]["preStop"]["sleep"]["seconds"] == 30
    assert spec["terminationGracePeriodSeconds"] == 45
    node_ports = {p["containerPort"] for p in node["ports"]}
    assert not node_ports & {p["containerPort"] for p in host["ports"]}
    config = kube.one("ConfigMap", "default", "elixir-example")["data"]
    assert config["ROOST_HTTP_ADDR"] == "0.0.0.0:8801" and config["ROOST_ACTORS"] == ""
    assert config["ROOST_PROBE_HTTP_ADDR"] == "0.0.0.0:8802"
    # the Spawn protocol takes no token: only the host in the pod reaches it
    assert config["ROOST_PROXY_HTTP_ADDR"] == "127.0.0.1:9001"
    assert "spawn" not in {p["name"] for p in node["ports"]}
    assert config["ROOST_SEEDS"] == "dns:elixir-example-headless.default.svc.cluster.local:7946"
    service = kube.one("Service", "default", "elixir-example")["spec"]
    assert {"name": "http", "port": 8800, "targetPort": "http", "protocol": "TCP"} in service[
        "ports"
    ]
    hpa = kube.one("HorizontalPodAutoscaler", "default", "elixir-example")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 2)
    assert hpa["scaleTargetRef"]["name"] == "elixir-example"


def test_seed_secret_wires_the_statestore_key_and_a_kept_cluster_secret(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    reconciler.host(seed)
    data = secret_data(kube, "default", "elixir-example")
    assert data["ROOST_STATESTORE_URL"] == SEED_URL
    assert data["ROOST_STATESTORE_KEY"] == KEY  # the credentials' encryptionKey
    cluster_secret = data["ROOST_CLUSTER_SECRET"]
    assert len(cluster_secret) >= 32
    env = {e["name"]: e for e in pod_template(kube)["spec"]["containers"][0]["env"]}
    assert env["ROOST_STATESTORE_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "elixir-example",
        "key": "ROOST_STATESTORE_KEY",
    }
    # a second pass keeps the generated cluster secret: the nodes keep talking to each other
    reconciler.host(kube.one("ActorHost", "default", "elixir-example"))
    assert secret_data(kube, "default", "elixir-example")["ROOST_CLUSTER_SECRET"] == cluster_secret


# --- every documented example ------------------------------------------------------------


EXAMPLE_SYSTEMS = {
    "spawn-system": "system-postgres-mesh.yaml",
}


@pytest.mark.parametrize(
    "host_file",
    [
        "host-springboot-annotations.yaml",
        "host-acl.yaml",
        "host-dice-game.yaml",
        "host-full-schema.yaml",
        "host-backpressure-annotations.yaml",
    ],
)
@pytest.mark.parametrize(
    "system_file",
    [
        "system-postgres-mesh.yaml",
        "system-mariadb.yaml",
        "system-tls-nats.yaml",
        "system-features.yaml",
        "system-getting-started.yaml",
    ],
)
def test_spawn_examples_reconcile_into_valid_kubernetes_1_30_objects(
    reconciler: Reconciler,
    kube: FakeKube,
    kube_validate: ModuleType,
    host_file: str,
    system_file: str,
) -> None:
    system = kube.add(example(system_file))
    ref = system["spec"]["statestore"]["credentialsSecretRef"]
    kube.add(credentials_secret(ref, "default"))
    host = example(host_file)
    host["metadata"]["annotations"]["spawn-eigr.io/actor-system"] = system["metadata"]["name"]
    host = kube.add(host)
    outcome = reconciler.host(host)
    assert conditions(outcome.status)["Accepted"]["status"] == "True", outcome.status
    objects = kube.owned_by(host)
    assert "StatefulSet" in {o["kind"] for o in objects}
    for obj in objects:
        if not validate_crd(obj):
            kube_validate.validate(obj, KUBE_VERSION, strict=True)
    if system_file == "system-tls-nats.yaml":
        assert "Certificate" in {o["kind"] for o in objects}


def test_the_seed_objects_are_valid_kubernetes_1_30(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest, kube_validate: ModuleType
) -> None:
    reconciler.host(seed)
    for obj in kube.owned_by(seed):
        kube_validate.validate(obj, KUBE_VERSION, strict=True)


# --- changes -----------------------------------------------------------------------------


def test_a_new_image_rolls_the_statefulset(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    reconciler.host(seed)
    before = pod_template(kube)
    seed["spec"]["host"]["image"] = "org/your-host-image:0.0.2"
    reconciler.host(seed)
    after = pod_template(kube)
    assert after != before
    assert after["spec"]["containers"][1]["image"] == "org/your-host-image:0.0.2"


def test_new_credentials_roll_the_pods(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    reconciler.host(seed)
    before = pod_template(kube)["metadata"]["annotations"]["checksum/secret"]
    secret = kube.one("Secret", "eigr-functions", "mysql-connection-secret")
    secret["data"]["password"] = base64.b64encode(b"rotated").decode()
    reconciler.host(seed)
    assert pod_template(kube)["metadata"]["annotations"]["checksum/secret"] != before
    assert secret_data(kube, "default", "elixir-example")["ROOST_STATESTORE_URL"].startswith(
        "mysql://admin:rotated@"
    )


def test_removing_the_autoscaler_removes_the_hpa_and_sets_replicas(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    reconciler.host(seed)
    del seed["spec"]["autoscaler"]
    seed["spec"]["replicas"] = 3
    outcome = reconciler.host(seed)
    assert outcome.pruned == ("HorizontalPodAutoscaler/elixir-example",)
    assert kube.one("StatefulSet", "default", "elixir-example")["spec"]["replicas"] == 3


def test_a_cleared_status_keeps_the_generated_secret_only_when_owned(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    """A Secret of the same name that is not the host's is never read, nor overwritten."""
    kube.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "elixir-example", "namespace": "default"},
            "data": {"ROOST_CLUSTER_SECRET": base64.b64encode(b"not-ours").decode()},
        }
    )
    outcome = reconciler.host(seed)
    accepted = conditions(outcome.status)["Accepted"]
    assert accepted["reason"] == "NameConflict" and "Secret 'elixir-example'" in accepted["message"]
    assert kube.applied() == []


# --- refusals ----------------------------------------------------------------------------


def _edit_system(kube: FakeKube, **statestore: Any) -> None:
    system = kube.one("ActorSystem", "default", "spawn-system")
    system["spec"]["statestore"] = statestore


def _negative_replicas(host: Manifest) -> None:
    del host["spec"]["autoscaler"]
    host["spec"]["replicas"] = -1


@pytest.mark.parametrize(
    ("break_it", "reason", "words"),
    [
        (
            lambda k, h: _edit_system(k, type="Native", credentialsSecretRef="x"),
            "ActorSystemRefused",
            "use Postgres, MySql, MariaDB or Sqlite",
        ),
        (
            lambda k, h: _edit_system(k, type="Cassandra", credentialsSecretRef="x"),
            "ActorSystemRefused",
            "'Cassandra' is not a statestore Roost has",
        ),
        (
            lambda k, h: _edit_system(k, type="MySql"),
            "ActorSystemRefused",
            "spec.statestore.credentialsSecretRef is required",
        ),
        (
            lambda k, h: _negative_replicas(h),
            "InvalidReplicas",
            "spec.replicas -1",
        ),
        (
            lambda k, h: k.objects.pop(("Secret", "eigr-functions", "mysql-connection-secret")),
            "CredentialsSecretNotFound",
            "'default' or 'eigr-functions'",
        ),
        (
            lambda k, h: k.objects.pop(("ActorSystem", "default", "spawn-system")),
            "ActorSystemNotFound",
            "no ActorSystem 'spawn-system'",
        ),
        (
            lambda k, h: h["metadata"]["annotations"].clear(),
            "MissingActorSystem",
            "spawn-eigr.io/actor-system",
        ),
    ],
)
def test_bad_resources_get_a_clear_condition_and_no_workload(
    reconciler: Reconciler,
    kube: FakeKube,
    seed: Manifest,
    break_it: Any,
    reason: str,
    words: str,
) -> None:
    break_it(kube, seed)
    outcome = reconciler.host(seed)
    found = conditions(outcome.status)
    assert found["Accepted"]["status"] == "False"
    assert found["Accepted"]["reason"] == reason and words in found["Accepted"]["message"]
    assert found["Ready"] == {**found["Ready"], "status": "False", "reason": "NoWorkload"}
    assert kube.applied() == [] and outcome.applied == ()


def test_a_missing_secret_is_retried_and_then_reconciled(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    secret = kube.objects.pop(("Secret", "eigr-functions", "mysql-connection-secret"))
    assert reconciler.host(seed).retry
    kube.add(secret)
    outcome = reconciler.host(seed)
    assert not outcome.retry and conditions(outcome.status)["Accepted"]["status"] == "True"


def test_credentials_in_the_systems_namespace_win(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    kube.add(
        credentials_secret("mysql-connection-secret", "default", host="local-mysql", port="3306")
    )
    reconciler.host(seed)
    url = secret_data(kube, "default", "elixir-example")["ROOST_STATESTORE_URL"]
    assert "@local-mysql:3306/" in url


# --- status ------------------------------------------------------------------------------


def test_status_reports_ready_replicas_and_members(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    reconciler.host(seed)
    sts = kube.one("StatefulSet", "default", "elixir-example")
    sts["status"] = {"replicas": 2, "readyReplicas": 1}
    labels = sts["spec"]["selector"]["matchLabels"]
    for i, ready in enumerate(["True", "False"]):
        kube.add(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"elixir-example-{i}", "labels": labels},
                "status": {"conditions": [{"type": "Ready", "status": ready}]},
            }
        )
    status = reconciler.host(seed).status
    assert status["readyReplicas"] == 1 and status["replicas"] == 2
    assert status["members"] == ["elixir-example-0"]
    assert conditions(status)["Ready"]["status"] == "False"
    assert (
        status["selector"]
        == "app.kubernetes.io/instance=elixir-example,app.kubernetes.io/name=roost"
    )
    sts["status"]["readyReplicas"] = 2
    kube.one("Pod", "default", "elixir-example-1")["status"]["conditions"][0]["status"] = "True"
    status = reconciler.host(seed).status
    assert conditions(status)["Ready"] | {"lastTransitionTime": ""} == conditions(status)[
        "Ready"
    ] | {
        "lastTransitionTime": "",
        "status": "True",
        "reason": "Ready",
        "message": "2/2 nodes ready",
    }
    assert status["members"] == ["elixir-example-0", "elixir-example-1"]


def test_the_system_reports_its_own_conditions_and_finds_its_hosts(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    system = kube.one("ActorSystem", "default", "spawn-system")
    found = conditions(reconciler.system(system).status)
    assert found["Accepted"]["status"] == "True" and found["Ignored"]["status"] == "False"
    assert [h["metadata"]["name"] for h in reconciler.hosts_of(system)] == ["elixir-example"]
    system["spec"]["statestore"]["type"] = "MSSQL"
    found = conditions(reconciler.system(system).status)
    assert found["Accepted"]["reason"] == "UnsupportedStatestore"


def test_spawns_acl_reaches_the_nodes_as_roost_policies_with_the_same_meaning(
    reconciler: Reconciler, kube: FakeKube
) -> None:
    """Spawn's 'allow get and sum from spawn-system' (examples/k8s/security/acl)."""
    kube.add(example("system-postgres-mesh.yaml"))
    kube.add(credentials_secret("postgres-connection-secret", "default"))
    host = kube.add(example("host-acl.yaml"))
    reconciler.host(host)
    text = kube.one("ConfigMap", "default", "spawn-springboot-acl-policies")["data"][
        "policies.yaml"
    ]
    policies = build(parse_text(text, "policies.yaml"))
    same = ActorId(system="spawn-system", name="caller")
    other = ActorId(system="billing", name="caller")
    assert policies.refusal("spawn-system", "counter", "get", same) is None
    assert policies.refusal("spawn-system", "counter", "sum", same) is None
    assert policies.refusal("spawn-system", "counter", "reset", same) is not None
    assert policies.refusal("spawn-system", "counter", "get", other) is not None


def test_a_service_monitor_comes_and_goes_with_its_setting(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest, kube_validate: ModuleType
) -> None:
    seed["spec"]["roost"] = {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}
    reconciler.host(seed)
    monitor = kube.one("ServiceMonitor", "default", "elixir-example")
    assert validate_crd(monitor) and monitor["metadata"]["labels"]["release"] == "prom"
    seed["spec"]["roost"]["serviceMonitor"]["enabled"] = False
    assert reconciler.host(seed).pruned == ("ServiceMonitor/elixir-example",)


def test_a_kind_the_cluster_does_not_serve_is_a_condition_not_a_crash(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    """A ServiceMonitor asked for without the Prometheus Operator's CRDs installed."""
    kube.unserved.add("ServiceMonitor")
    seed["spec"]["roost"] = {"serviceMonitor": {"enabled": True}}
    outcome = reconciler.host(seed)
    accepted = conditions(outcome.status)["Accepted"]
    assert accepted["reason"] == "ApplyFailed" and outcome.retry
    assert "ServiceMonitor/elixir-example was not applied" in accepted["message"]
    assert "StatefulSet/elixir-example" in outcome.applied  # the cluster itself still runs


def test_every_roost_setting_at_once_renders_valid_objects(
    reconciler: Reconciler, kube: FakeKube, kube_validate: ModuleType
) -> None:
    """spec.roost with every field the CRD has, on a Sqlite system (persistence applies)."""
    system = kube.add(
        {
            "apiVersion": "spawn-eigr.io/v1",
            "kind": "ActorSystem",
            "metadata": {"name": "local", "namespace": "default"},
            "spec": {"statestore": {"type": "Sqlite"}, "roost": {"leaseSeconds": 12}},
        }
    )
    roost = {
        "image": "reg/roost:2.0",
        "drainTimeoutSeconds": 40,
        "preStopSleepSeconds": 3,
        "logLevel": "debug",
        "logFormat": "text",
        "tls": {"issuerRef": {"name": "ca", "kind": "ClusterIssuer"}, "caKey": "ca.crt"},
        "policies": [{"name": "p", "type": "allow", "systems": ["local"], "from": ["*"]}],
        "tracing": {"endpoint": "http://otel:4317"},
        "serviceMonitor": {"enabled": True, "interval": "15s", "scrapeTimeout": "5s"},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "persistence": {"enabled": True, "size": "2Gi", "storageClass": "fast"},
        "nodeResources": {"requests": {"cpu": "200m"}},
        "service": {"type": "LoadBalancer", "port": 80},
    }
    host = {
        "apiVersion": "spawn-eigr.io/v1",
        "kind": "ActorHost",
        "metadata": {
            "name": "everything",
            "namespace": "default",
            "annotations": {"spawn-eigr.io/actor-system": system["metadata"]["name"]},
        },
        "spec": {"host": {"image": "org/host:1", "sdk": "nodejs"}, "roost": roost},
    }
    assert errors(crd("ActorHost"), host) == []
    host = kube.add(host)
    outcome = reconciler.host(host)
    assert conditions(outcome.status)["Accepted"]["status"] == "True", outcome.status
    objects = kube.owned_by(host)
    for obj in objects:
        if not validate_crd(obj):
            kube_validate.validate(obj, KUBE_VERSION, strict=True)
    kinds = {o["kind"] for o in objects}
    assert {"Certificate", "ServiceMonitor", "PodDisruptionBudget"} <= kinds
    sts = kube.one("StatefulSet", "default", "everything")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 3 + 40 + 15
    config = kube.one("ConfigMap", "default", "everything")["data"]
    assert config["ROOST_LEASE_SECONDS"] == "12" and config["ROOST_LOG_LEVEL"] == "debug"
    assert kube.one("Service", "default", "everything")["spec"]["type"] == "LoadBalancer"
