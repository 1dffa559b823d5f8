"""The chart's optional parts for Spawn's resources: the spawn-eigr.io CRDs and the operator
(off by default), a Spawn SDK actor host beside the node, ACL policies and extra volumes."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from roost.node.policies import build, parse_text
from roost.operator.reconcile import KINDS
from tests.conftest import need

from .conftest import CHART, KUBE_VERSION, NAMESPACE, Rendered, render
from .test_chart import LINT_INFOS, validate_crd

OPERATOR = {"operator": {"enabled": True}, "crds": {"install": True}, "nodes": {"enabled": False}}
HOST = {
    "actors": [],
    "actorHost": {
        "enabled": True,
        "image": "eigr/spawn-springboot-examples:0.5.5",
        "ports": [{"name": "app", "containerPort": 8090}],
        "env": [{"name": "JAVA_OPTS", "value": "-Xmx256m"}],
        "resources": {"requests": {"cpu": "100m"}},
        "volumeMounts": [{"name": "config", "mountPath": "/app/config"}],
    },
    "extraVolumes": [{"name": "config", "configMap": {"name": "app-config"}}],
    "policies": [{"name": "no-resets", "type": "deny", "actions": ["reset"], "from": ["!*"]}],
}


@pytest.fixture(scope="module")
def kube_validate() -> ModuleType:
    try:
        import kubernetes_validate
    except ImportError:
        kubernetes_validate = None
    need(kubernetes_validate is not None, "kubernetes-validate is not installed")
    return kubernetes_validate


@pytest.fixture(scope="module")
def operator(helm: ModuleType) -> Rendered:
    return render(helm, OPERATOR)


@pytest.fixture(scope="module")
def with_host(helm: ModuleType) -> Rendered:
    return render(helm, HOST)


def test_crds_and_operator_are_off_by_default(helm: ModuleType) -> None:
    kinds = set(render(helm).kinds())
    assert not kinds & {"CustomResourceDefinition", "Deployment", "ClusterRole"}


@pytest.mark.parametrize("values", [OPERATOR, {**OPERATOR, "nodes": {"enabled": True}}, HOST])
def test_lints_clean_and_every_object_is_valid_for_kubernetes_1_30(
    helm: ModuleType, kube_validate: ModuleType, values: dict[str, Any]
) -> None:
    report = helm.lint(
        CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}"
    )
    findings = [m for m in report["messages"] if m["severity"] >= 2 or m["error"] not in LINT_INFOS]
    assert report["errors"] == [] and findings == [], report
    for manifest in render(helm, values):
        if not validate_crd(manifest):
            kube_validate.validate(manifest, KUBE_VERSION, strict=True)


def test_operator_only_install_renders_no_node(operator: Rendered) -> None:
    assert operator.kinds() == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "Deployment",
        "ServiceAccount",
    ]


def test_installed_crds_are_the_files_the_operator_tests_use(operator: Rendered) -> None:
    """One source for the schemas: the chart ships files/crds as they are."""
    files = [
        yaml.safe_load(p.read_text()) for p in sorted((CHART / "files" / "crds").glob("*.yaml"))
    ]
    assert sorted(operator.all("CustomResourceDefinition"), key=str) == sorted(files, key=str)


def test_operator_may_do_what_the_reconciler_does(operator: Rendered) -> None:
    rules = operator.one("ClusterRole")["rules"]

    def allowed(group: str, resource: str, verb: str) -> bool:
        return any(
            group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
            for r in rules
        )

    plural = {
        "ServiceAccount": "serviceaccounts",
        "Secret": "secrets",
        "ConfigMap": "configmaps",
        "Certificate": "certificates",
        "Service": "services",
        "PodDisruptionBudget": "poddisruptionbudgets",
        "StatefulSet": "statefulsets",
        "HorizontalPodAutoscaler": "horizontalpodautoscalers",
        "ServiceMonitor": "servicemonitors",
    }
    for api_version, kind in KINDS:
        group = api_version.rpartition("/")[0]
        for verb in ("get", "list", "create", "patch", "delete"):
            assert allowed(group, plural[kind], verb), (kind, verb)
    assert allowed("spawn-eigr.io", "actorhosts/status", "patch")
    assert allowed("", "pods", "list") and not allowed("", "pods", "delete")
    binding = operator.one("ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == operator.one("ServiceAccount")["metadata"]["name"]


def test_operator_runs_the_charts_node_image_standalone_and_non_root(helm: ModuleType) -> None:
    rendered = render(
        helm,
        {
            **OPERATOR,
            "image": {"repository": "reg/roost", "tag": "1.2.3"},
            "operator": {"enabled": True, "namespaces": ["shop", "billing"]},
        },
    )
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "roost-operator:0.1.0"
    assert container["args"] == ["--namespace=shop", "--namespace=billing"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["ROOST_NODE_IMAGE"] == "reg/roost:1.2.3"
    assert env["ROOST_OPERATOR_CREDENTIALS_NAMESPACE"] == NAMESPACE
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_actor_host_runs_beside_the_node_and_outlives_its_drain(with_host: Rendered) -> None:
    node, host = with_host.pod["spec"]["containers"]
    assert node["name"] == "roost" and host["name"] == "actorhost"
    env = {e["name"]: e.get("value") for e in host["env"]}
    assert env == {
        "PROXY_HTTP_HOST": "127.0.0.1",
        "PROXY_HTTP_PORT": "9001",
        "SPAWN_PROXY_INTERFACE": "127.0.0.1",
        "SPAWN_PROXY_PORT": "9001",
        "USER_FUNCTION_PORT": "8090",
        "PROXY_ACTOR_SYSTEM_NAME": "spawn-system",
        "JAVA_OPTS": "-Xmx256m",
    }
    stopping = with_host.pod["spec"]["terminationGracePeriodSeconds"]
    sleep = host["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep == 5 + 25 < stopping
    assert host["volumeMounts"] == [{"name": "config", "mountPath": "/app/config"}]
    assert {"name": "config", "configMap": {"name": "app-config"}} in with_host.pod["spec"][
        "volumes"
    ]
    assert with_host.config["ROOST_ACTORS"] == ""


def test_policies_are_mounted_and_parse_as_roost_policies(with_host: Rendered) -> None:
    name = with_host.statefulset["metadata"]["name"]
    cm = with_host.one("ConfigMap", f"{name}-policies")
    policies = build(parse_text(cm["data"]["policies.yaml"], "policies.yaml"))
    assert policies.refusal("spawn-system", "counter", "reset") is not None
    assert policies.refusal("spawn-system", "counter", "add") is None
    assert with_host.config["ROOST_POLICIES_DIR"] == "/etc/roost/policies"
    node = with_host.pod["spec"]["containers"][0]
    assert {"name": "policies", "mountPath": "/etc/roost/policies", "readOnly": True} in node[
        "volumeMounts"
    ]
    assert "checksum/policies" in with_host.pod["metadata"]["annotations"]


def test_image_digest_pins_the_node_image(helm: ModuleType) -> None:
    digest = "sha256:" + "ab" * 32
    rendered = render(helm, {"image": {"repository": "reg/roost", "digest": digest}})
    assert rendered.container["image"] == f"reg/roost@{digest}"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"actorHost": {"enabled": True}}, "actorHost.enabled needs actorHost.image"),
        (
            {"actorHost": {"enabled": True, "image": "x", "ports": [{"containerPort": 8800}]}},
            "actorHost.ports: port 8800 is the node's own",
        ),
        (
            {"policies": HOST["policies"], "config": {"ROOST_POLICIES_DIR": "/p"}},
            "config.ROOST_POLICIES_DIR: with policies set the chart mounts them",
        ),
    ],
)
def test_unsafe_host_settings_fail_the_render(
    helm: ModuleType, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        render(helm, values)
    assert message in str(caught.value)


def test_the_crd_files_are_yaml_documents_of_one_object_each() -> None:
    for path in Path(CHART / "files" / "crds").glob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert len(docs) == 1 and docs[0]["kind"] == "CustomResourceDefinition"
