"""The Helm chart, rendered offline: lint, Kubernetes 1.30 schemas, and the properties a Roost
cluster relies on (drain before SIGKILL, seeds = the headless Service, secrets by reference)."""

from __future__ import annotations

import base64
import importlib
import json
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from roost.node.config import OPTIONS, SECRET_ENV
from roost.statestore.crypto import parse_key
from tests.conftest import need

from .conftest import (
    CHART,
    KUBE_VERSION,
    NAMESPACE,
    PRODUCTION_VALUES,
    Rendered,
    merged,
    production_values,
    render,
)

ROOST_ENV = {o.env for o in OPTIONS if o.env} | set(SECRET_ENV)
# Informational lint notes we accept: the project has no logo to point at.
LINT_INFOS = {"icon is recommended"}

SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "production": production_values(),
    "autoscaled": merged(
        production_values(),
        {"autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80}},
    ),
    "persistent": {"persistence": {"enabled": True, "storageClass": "fast-ssd"}},
    "inline-postgres": {
        "replicaCount": 3,
        "secrets": {
            "statestoreUrl": "postgresql://roost:pw@postgres:5432/roost",
            "statestoreKey": base64.b64encode(bytes(range(32))).decode(),
            "clusterSecret": "a-cluster-secret-of-32-characters",
            "statestoreOldKeys": base64.b64encode(bytes(32)).decode(),
        },
    },
    "tls": merged(
        production_values(),
        {
            "tls": {
                "enabled": True,
                "certManager": {"issuerRef": {"name": "roost-ca", "kind": "Issuer"}},
            }
        },
    ),
    "tls-own-secret": {"tls": {"enabled": True, "secretName": "roost-certs", "caKey": ""}},
}

# The Prometheus Operator's CRD is not among the core schemas kubernetes-validate ships: the
# ServiceMonitor is checked against the part of monitoring.coreos.com/v1 the chart uses, strictly.
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "definitions": {
        "secretKey": {
            "type": "object",
            "additionalProperties": False,
            "required": ["secret"],
            "properties": {
                "secret": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "key"],
                    "properties": {"name": {"type": "string"}, "key": {"type": "string"}},
                }
            },
        }
    },
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scheme": {"enum": ["http", "https"]},
                            "tlsConfig": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "serverName": {"type": "string"},
                                    "ca": {"$ref": "#/definitions/secretKey"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


# cert-manager's Certificate (cert-manager.io/v1) is a CRD too: checked against the part of its
# schema the chart uses, strictly.
DNS_NAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CERTIFICATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "Certificate"},
        "metadata": SERVICE_MONITOR_SCHEMA["properties"]["metadata"],
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["secretName", "issuerRef", "dnsNames"],
            "properties": {
                "secretName": {"type": "string", "minLength": 1},
                "duration": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                "renewBefore": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                "privateKey": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                        "size": {"type": "integer"},
                        "rotationPolicy": {"enum": ["Never", "Always"]},
                    },
                },
                "usages": {
                    "type": "array",
                    "items": {
                        "enum": [
                            "digital signature",
                            "key encipherment",
                            "server auth",
                            "client auth",
                        ]
                    },
                },
                "dnsNames": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "pattern": DNS_NAME},
                },
                "issuerRef": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "kind": {"type": "string"},
                        "group": {"type": "string"},
                    },
                },
            },
        },
    },
}
CRD_SCHEMAS = {
    "monitoring.coreos.com/": SERVICE_MONITOR_SCHEMA,
    "cert-manager.io/": CERTIFICATE_SCHEMA,
}


def validate_crd(manifest: dict[str, Any]) -> bool:
    """Check a manifest of one of the CRDs above; False when it is a core object."""
    for prefix, schema in CRD_SCHEMAS.items():
        if manifest["apiVersion"].startswith(prefix):
            jsonschema.validate(manifest, schema)
            return True
    return False


@pytest.fixture(scope="module")
def kube_validate() -> ModuleType:
    try:
        import kubernetes_validate
    except ImportError:
        kubernetes_validate = None
    need(kubernetes_validate is not None, "kubernetes-validate is not installed")
    return kubernetes_validate


@pytest.fixture(scope="module")
def default(helm: ModuleType) -> Rendered:
    return render(helm)


@pytest.fixture(scope="module")
def production(helm: ModuleType) -> Rendered:
    return render(helm, production_values())


@pytest.fixture(params=["default", "production"])
def rendered(request: pytest.FixtureRequest, helm: ModuleType) -> Rendered:
    return render(helm, SCENARIOS[request.param])


# --- lint and schemas -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "production", "tls"])
def test_chart_lints_clean_in_strict_mode(helm: ModuleType, name: str) -> None:
    report = helm.lint(
        CHART, SCENARIOS[name], strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}"
    )
    findings = [m for m in report["messages"] if m["severity"] >= 2 or m["error"] not in LINT_INFOS]
    assert report["errors"] == [] and findings == [], report


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_manifest_is_valid_for_kubernetes_1_30(
    helm: ModuleType, kube_validate: ModuleType, name: str
) -> None:
    rendered = render(helm, SCENARIOS[name])
    for manifest in rendered:
        if not validate_crd(manifest):
            kube_validate.validate(manifest, KUBE_VERSION, strict=True)


def test_the_validator_rejects_an_unknown_field(
    default: Rendered, kube_validate: ModuleType
) -> None:
    """Strict validation really is strict: a misspelt field fails (so the test above can)."""
    sts = default.statefulset
    broken = {**sts, "spec": {**sts["spec"], "podManagmentPolicy": "Parallel"}}
    with pytest.raises(kube_validate.ValidationError, match="podManagmentPolicy"):
        kube_validate.validate(broken, KUBE_VERSION, strict=True)


def test_production_renders_the_expected_objects(production: Rendered) -> None:
    assert production.kinds() == [
        "ConfigMap",
        "PodDisruptionBudget",
        "Service",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "StatefulSet",
    ]
    assert production.statefulset["spec"]["replicas"] == 5


# --- values the schema refuses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": "five"}, "at '/replicaCount': got string, want integer"),
        ({"replicaCount": 0}, "at '/replicaCount'"),
        ({"drainTimeout": -1}, "at '/drainTimeout'"),
        ({"actors": ["examples.counters.Incrementor"]}, "at '/actors/0'"),
        ({"log": {"format": "xml"}}, "at '/log/format'"),
        ({"replicas": 3}, "additional properties 'replicas' not allowed"),
        ({"secrets": {"statestoreKey": "not-a-key"}}, "at '/secrets/statestoreKey'"),
        ({"secrets": {"statestoreUrl": "redis://cache"}}, "at '/secrets/statestoreUrl'"),
        ({"config": {"log_level": "debug"}}, "'log_level' does not match pattern '^ROOST_"),
        ({"tls": {"enabled": "yes"}}, "at '/tls/enabled'"),
        ({"secrets": {"apiTokens": "short"}}, "at '/secrets/apiTokens'"),
        ({"tls": {"certManager": {"renewBefore": "2 weeks"}}}, "at '/tls/certManager/renewBefore'"),
    ],
)
def test_schema_rejects_wrong_values_with_a_clear_message(
    helm: ModuleType, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        render(helm, values)
    assert "values don't meet the specifications of the schema" in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"drainTimeout": 30, "terminationGracePeriodSeconds": 35},
            "terminationGracePeriodSeconds (35) must be greater than "
            "preStopSleepSeconds + drainTimeout (35)",
        ),
        (
            {"drainTimeout": 30, "preStopSleepSeconds": 0, "terminationGracePeriodSeconds": 29.0},
            "terminationGracePeriodSeconds (29) must be greater than",
        ),
        ({"replicaCount": 2}, "replicaCount > 1 (or autoscaling) needs a statestore"),
        (
            {"autoscaling": {"enabled": True}},
            "replicaCount > 1 (or autoscaling) needs a statestore",
        ),
        (
            {"secrets": {"statestoreUrl": "mysql://roost@db/roost"}},
            "set secrets.statestoreKey (`roost keygen`) and secrets.clusterSecret",
        ),
        ({"config": {"ROOST_STATESTORE_KEY": "k"}}, "config.ROOST_STATESTORE_KEY is a secret"),
        ({"config": {"ROOST_API_TOKENS": "t" * 20}}, "config.ROOST_API_TOKENS is a secret"),
        (
            {"config": {"ROOST_CLUSTER_OLD_SECRETS": "s" * 20}},
            "config.ROOST_CLUSTER_OLD_SECRETS is a secret",
        ),
        ({"config": {"ROOST_SEEDS": "a:1"}}, "config.ROOST_SEEDS: the chart sets it"),
        ({"tls": {"enabled": True}}, "tls.enabled needs tls.secretName"),
        (
            {"tls": {"enabled": True, "certManager": {"issuerRef": {"kind": "ClusterIssuer"}}}},
            "tls.certManager.issuerRef needs a name",
        ),
        (
            {"tls": {"enabled": True, "secretName": "s"}, "config": {"ROOST_TLS_CA": "/ca.pem"}},
            "config.ROOST_TLS_CA: with tls.enabled the chart sets it",
        ),
    ],
)
def test_unsafe_combinations_fail_the_render(
    helm: ModuleType, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        render(helm, values)
    assert message in str(caught.value)


# --- the properties a Roost cluster relies on --------------------------------------------------


@pytest.mark.parametrize(
    ("values", "grace"),
    [
        ({}, 45),
        ({"drainTimeout": 25.5}, 46),
        ({"drainTimeout": 40, "preStopSleepSeconds": 0}, 55),
        (production_values(), 60),
    ],
)
def test_grace_period_outlasts_the_prestop_sleep_and_the_drain(
    helm: ModuleType, values: dict[str, Any], grace: int
) -> None:
    rendered = render(helm, values)
    period = rendered.pod["spec"]["terminationGracePeriodSeconds"]
    assert period == grace
    lifecycle = rendered.container.get("lifecycle")
    sleep = int(lifecycle["preStop"]["exec"]["command"][1]) if lifecycle else 0
    assert lifecycle is None or lifecycle["preStop"]["exec"]["command"][0] == "sleep"
    assert sleep == values.get("preStopSleepSeconds", 5)
    assert period > sleep + float(rendered.config["ROOST_DRAIN_TIMEOUT"])


def test_statefulset_starts_peers_in_parallel_behind_the_headless_service(
    rendered: Rendered,
) -> None:
    spec = rendered.statefulset["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    headless = rendered.one("Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"].items() <= rendered.pod["metadata"]["labels"].items()


def test_seeds_are_the_dns_name_of_the_headless_service(rendered: Rendered) -> None:
    headless = rendered.statefulset["spec"]["serviceName"]
    gossip = {
        (p["containerPort"], p["protocol"])
        for p in rendered.container["ports"]
        if p["name"].startswith("gossip")
    }
    (port,) = {p for p, _ in gossip}
    assert gossip == {(port, "TCP"), (port, "UDP")}
    assert rendered.config["ROOST_SEEDS"] == (
        f"dns:{headless}.{NAMESPACE}.svc.cluster.local:{port}"
    )
    service_ports = {
        (p["port"], p["protocol"]) for p in rendered.one("Service", headless)["spec"]["ports"]
    }
    assert gossip <= service_ports
    assert rendered.env["ROOST_GOSSIP_ADDR"]["value"] == f"$(POD_IP):{port}"
    assert rendered.env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_node_identity_comes_from_the_pod(rendered: Rendered) -> None:
    env = rendered.env
    assert env["ROOST_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["ROOST_ADVERTISE_ADDR"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_probes_hit_readyz_and_healthz_on_the_probes_port(rendered: Rendered) -> None:
    c = rendered.container
    (http,) = [p for p in c["ports"] if p["name"] == "http"]
    (probes,) = [p for p in c["ports"] if p["name"] == "probes"]
    assert rendered.config["ROOST_HTTP_ADDR"] == f"0.0.0.0:{http['containerPort']}"
    assert rendered.config["ROOST_PROBE_HTTP_ADDR"] == f"0.0.0.0:{probes['containerPort']}"
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    client = rendered.one("Service", rendered.statefulset["metadata"]["name"])
    assert client["spec"]["ports"][0]["targetPort"] == "http"
    assert "publishNotReadyAddresses" not in client["spec"]


def test_secrets_are_referenced_from_the_chart_secret(default: Rendered) -> None:
    secret = default.one("Secret")
    refs = {
        name: e["valueFrom"]["secretKeyRef"]
        for name, e in default.env.items()
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    # per-system keys and remote tokens are composed from their own Secrets (see below)
    composed = {"ROOST_SYSTEM_KEYS", "ROOST_REMOTE_TOKENS"}
    assert set(refs) == (set(SECRET_ENV) - composed) | {"ROOST_STATESTORE_URL"}
    for name, ref in refs.items():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["data"] or ref.get("optional") is True, name
    assert set(default.config).isdisjoint(refs)


def test_generated_secrets_are_usable(default: Rendered) -> None:
    data = default.one("Secret")["data"]
    parse_key(base64.b64decode(data["ROOST_STATESTORE_KEY"]).decode())
    assert len(base64.b64decode(data["ROOST_CLUSTER_SECRET"])) >= 32
    assert base64.b64decode(data["ROOST_STATESTORE_URL"]).decode().startswith("sqlite:////")
    assert "generated" in default.notes and "SQLite" in default.notes


def test_existing_secret_is_referenced_and_no_secret_is_rendered(production: Rendered) -> None:
    assert production.all("Secret") == []
    keys = production_values()["secrets"].get("keys", {})
    for name in ("ROOST_STATESTORE_URL", "ROOST_STATESTORE_KEY", "ROOST_CLUSTER_SECRET"):
        ref = production.env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "roost-secrets"
        assert ref["key"] == keys.get(name, name)
        assert ref.get("optional") is not True
    assert production.env["ROOST_STATESTORE_OLD_KEYS"]["valueFrom"]["secretKeyRef"]["optional"]


def test_settings_are_ones_the_node_reads(rendered: Rendered) -> None:
    assert set(rendered.config) <= ROOST_ENV
    roost_env = {n for n in rendered.env if n.startswith("ROOST_")}
    assert roost_env <= ROOST_ENV
    assert rendered.pod["spec"]["enableServiceLinks"] is False


def test_default_actors_are_importable() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for spec in values["actors"]:
        module, cls = spec.split(":")
        assert hasattr(importlib.import_module(module), cls), spec


def test_pods_prefer_distinct_hosts(rendered: Rendered) -> None:
    anti = rendered.pod["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selector = term["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert selector.items() <= rendered.pod["metadata"]["labels"].items()
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti


def test_explicit_affinity_replaces_the_default(helm: ModuleType) -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["actors"]}]}]}}}  # fmt: skip
    assert render(helm, {"affinity": affinity}).pod["spec"]["affinity"] == affinity


def test_pod_runs_locked_down(rendered: Rendered) -> None:
    pod = rendered.pod["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = rendered.container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in rendered.container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert rendered.env["TMPDIR"]["value"] == "/tmp"


def test_disruption_budget_selects_the_pods(rendered: Rendered) -> None:
    pdb = rendered.one("PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"].items() <= rendered.pod["metadata"]["labels"].items()
    assert pdb["selector"] == rendered.statefulset["spec"]["selector"]


def test_service_monitor_scrapes_metrics_of_every_pod(production: Rendered) -> None:
    monitor = production.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    (service,) = [
        s for s in production.all("Service") if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert service["spec"]["publishNotReadyAddresses"] is True
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]


def test_scrape_annotations(default: Rendered, production: Rendered) -> None:
    annotations = default.pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == default.config["ROOST_HTTP_ADDR"].split(":")[1]
    assert "prometheus.io/scrape" not in production.pod["metadata"]["annotations"]
    assert default.all("ServiceMonitor") == []


def test_autoscaler_owns_the_replica_count(helm: ModuleType) -> None:
    rendered = render(helm, SCENARIOS["autoscaled"])
    hpa = rendered.one("HorizontalPodAutoscaler")["spec"]
    sts = rendered.statefulset
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": sts["metadata"]["name"],
    }
    assert "replicas" not in sts["spec"]
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60


def test_sqlite_gets_a_persistent_volume_when_asked(helm: ModuleType) -> None:
    rendered = render(helm, SCENARIOS["persistent"])
    (claim,) = rendered.statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert "data" not in {v["name"] for v in rendered.pod["spec"]["volumes"]}
    url = base64.b64decode(rendered.one("Secret")["data"]["ROOST_STATESTORE_URL"]).decode()
    mount = {m["name"]: m["mountPath"] for m in rendered.container["volumeMounts"]}["data"]
    assert url.removeprefix("sqlite:///").startswith(mount + "/")


def test_a_changed_setting_rolls_the_pods(helm: ModuleType, default: Rendered) -> None:
    changed = render(helm, {"log": {"level": "debug"}})
    before, after = (
        r.pod["metadata"]["annotations"]["checksum/config"] for r in (default, changed)
    )
    assert before != after
    inline = SCENARIOS["inline-postgres"]
    rotated = merged(inline, {"secrets": {"clusterSecret": "another-secret-of-32-characters!"}})
    before, after = (
        render(helm, v).pod["metadata"]["annotations"]["checksum/secret"] for v in (inline, rotated)
    )
    assert before != after
    assert render(helm, inline).pod["metadata"]["annotations"]["checksum/secret"] == before


def test_old_cluster_secrets_go_into_the_secret_and_roll_the_pods(helm: ModuleType) -> None:
    """Rollout 1 of a secret rotation: the new secret listed as old, inline in the values."""
    inline = SCENARIOS["inline-postgres"]
    new = "the-next-secret-of-32-characters"
    rotating = render(helm, merged(inline, {"secrets": {"clusterOldSecrets": new}}))
    data = rotating.one("Secret")["data"]
    assert base64.b64decode(data["ROOST_CLUSTER_OLD_SECRETS"]).decode() == new
    ref = rotating.env["ROOST_CLUSTER_OLD_SECRETS"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] == "ROOST_CLUSTER_OLD_SECRETS" and ref["optional"] is True
    assert "ROOST_CLUSTER_OLD_SECRETS" not in render(helm, inline).one("Secret")["data"]
    checksums = {
        r.pod["metadata"]["annotations"]["checksum/secret"]
        for r in (rotating, render(helm, inline))
    }
    assert len(checksums) == 2


# --- the chart's own YAML -------------------------------------------------------------------


YAMLLINT_CONFIG = """
extends: default
rules:
  line-length: {max: 100}
  document-start: disable
  comments: {min-spaces-from-content: 1}
  truthy: {check-keys: false}
"""


def test_chart_yaml_files_pass_yamllint() -> None:
    try:
        from yamllint import linter
        from yamllint.config import YamlLintConfig
    except ImportError:
        linter = None
    need(linter is not None, "yamllint is not installed")
    config = YamlLintConfig(YAMLLINT_CONFIG)
    files = [CHART / "Chart.yaml", CHART / "values.yaml", PRODUCTION_VALUES]
    problems = [
        f"{path.relative_to(CHART)}:{p.line}: {p.message}"
        for path in files
        for p in linter.run(path.read_text(), config, str(path))
    ]
    assert problems == []


def test_grafana_dashboard_configmap_is_valid_and_carries_the_dashboard(
    helm: ModuleType, kube_validate: ModuleType
) -> None:
    values = {"grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Roost"}}}
    report = helm.lint(
        CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}"
    )
    findings = [m for m in report["messages"] if m["severity"] >= 2 or m["error"] not in LINT_INFOS]
    assert report["errors"] == [] and findings == [], report
    rendered = render(helm, values)
    maps = [m for m in rendered if m["kind"] == "ConfigMap" and "roost.json" in m.get("data", {})]
    assert len(maps) == 1
    dashboard = json.loads(maps[0]["data"]["roost.json"])
    assert dashboard["panels"], "the dashboard has no panels"
    assert maps[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    kube_validate.validate(maps[0], KUBE_VERSION, strict=True)
    assert not [m for m in render(helm, {}) if "roost.json" in m.get("data", {})]


SYSTEMS = {
    "replicaCount": 3,
    "secrets": {"existingSecret": "roost-secrets"},
    "systems": {
        "billing-eu": {
            "statestore": {
                "type": "postgres", "host": "pg.billing.svc", "database": "billing",
                "pool": 20, "credentialsSecret": "billing-db",
            }
        }
    },
    "remoteSystems": {
        "payments": {
            "url": "https://payments.example:8800",
            "tokenSecret": {"name": "payments-api", "key": "token"},
        }
    },
}  # fmt: skip


def test_several_systems_and_remote_systems(helm: ModuleType, kube_validate: ModuleType) -> None:
    rendered = render(helm, SYSTEMS)
    assert rendered.config["ROOST_SYSTEM"] == "spawn-system,billing-eu"
    env = rendered.env
    assert env["ROOST_SYS_BILLING_EU_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "billing-db", "key": "password",
    }  # fmt: skip
    assert env["ROOST_SYSTEM_STATESTORES"]["value"] == (
        "billing-eu=postgresql://$(ROOST_SYS_BILLING_EU_USER):$(ROOST_SYS_BILLING_EU_PASSWORD)"
        "@pg.billing.svc:5432/billing?pool_size=20"
    )
    assert env["ROOST_SYSTEM_KEYS"]["value"] == "billing-eu=$(ROOST_SYS_BILLING_EU_KEY)"
    assert env["ROOST_REMOTE_SYSTEMS"]["value"] == "payments=https://payments.example:8800"
    assert env["ROOST_REMOTE_TOKENS"]["value"] == "payments=$(ROOST_REMOTE_TOKEN_PAYMENTS)"
    names = [e["name"] for e in rendered.container["env"]]
    # Kubernetes expands $(VAR) only from variables defined earlier in the list
    assert names.index("ROOST_SYS_BILLING_EU_PASSWORD") < names.index("ROOST_SYSTEM_STATESTORES")
    assert names.index("ROOST_REMOTE_TOKEN_PAYMENTS") < names.index("ROOST_REMOTE_TOKENS")
    for manifest in rendered:
        if not manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            kube_validate.validate(manifest, KUBE_VERSION, strict=True)


def test_a_bad_system_statestore_is_refused_by_the_schema(helm: ModuleType) -> None:
    store = {"type": "oracle", "host": "h", "database": "d", "credentialsSecret": "s"}
    bad = {**SYSTEMS, "systems": {"billing": {"statestore": store}}}
    with pytest.raises(Exception, match=r"/systems/billing/statestore/type': value must be one of"):
        render(helm, bad)


# --- TLS ------------------------------------------------------------------------------------


def test_tls_mounts_the_secret_and_switches_scrapes_to_https(
    helm: ModuleType,
) -> None:
    rendered = render(helm, SCENARIOS["tls"])
    headless = rendered.statefulset["spec"]["serviceName"]
    pods = f"{headless}.{NAMESPACE}.svc.cluster.local"
    cert = rendered.one("Certificate")["spec"]
    assert cert["issuerRef"] == {"name": "roost-ca", "kind": "Issuer"}
    assert f"*.{pods}" in cert["dnsNames"] and "roost.roost-prod.svc" in cert["dnsNames"]
    assert {"server auth", "client auth"} <= set(cert["usages"])
    assert not any(n[0].isdigit() for n in cert["dnsNames"])  # no IP addresses

    volumes = {v["name"]: v for v in rendered.pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in rendered.container["volumeMounts"]}
    mount = mounts["/etc/roost/tls"]
    assert mount["readOnly"] is True and "subPath" not in mount  # a renewal reaches the pod
    assert volumes[mount["name"]]["secret"]["secretName"] == cert["secretName"]
    env = rendered.env
    assert {n: env[n]["value"] for n in ("ROOST_TLS_CERT", "ROOST_TLS_KEY", "ROOST_TLS_CA")} == {
        "ROOST_TLS_CERT": "/etc/roost/tls/tls.crt",
        "ROOST_TLS_KEY": "/etc/roost/tls/tls.key",
        "ROOST_TLS_CA": "/etc/roost/tls/ca.crt",
    }
    # peers dial a name the certificate covers, not the pod IP
    assert env["ROOST_ADVERTISE_ADDR"]["value"] == f"$(ROOST_NODE_ID).{pods}"
    names = [e["name"] for e in rendered.container["env"]]
    assert names.index("ROOST_NODE_ID") < names.index("ROOST_ADVERTISE_ADDR")

    c = rendered.container  # the probes port stays plain HTTP
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    (endpoint,) = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == {
        "serverName": pods,
        "ca": {"secret": {"name": cert["secretName"], "key": "ca.crt"}},
    }
    assert "https://" in rendered.notes and "http://127.0.0.1" not in rendered.notes


def test_tls_from_a_secret_without_a_ca(helm: ModuleType) -> None:
    """A Secret of your own (say, from a public issuer): no Certificate, no ROOST_TLS_CA, so the
    nodes verify each other against the system store and ask for no client certificate."""
    rendered = render(helm, SCENARIOS["tls-own-secret"])
    assert rendered.all("Certificate") == []
    volumes = {v["name"]: v for v in rendered.pod["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "roost-certs"
    assert "ROOST_TLS_CERT" in rendered.env and "ROOST_TLS_CA" not in rendered.env
    assert "scheme" not in rendered.container["readinessProbe"]["httpGet"]  # plain probes port


def test_without_tls_nothing_changes(default: Rendered) -> None:
    assert default.all("Certificate") == []
    assert not any(n.startswith("ROOST_TLS_") for n in default.env)
    assert "scheme" not in default.container["readinessProbe"]["httpGet"]
    assert "tls" not in {v["name"] for v in default.pod["spec"]["volumes"]}


def test_api_tokens_go_into_the_secret(helm: ModuleType) -> None:
    tokens = "a" * 20 + "," + "b" * 24
    rendered = render(helm, {"secrets": {"apiTokens": tokens}})
    data = rendered.one("Secret")["data"]
    assert base64.b64decode(data["ROOST_API_TOKENS"]).decode() == tokens
    ref = rendered.env["ROOST_API_TOKENS"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] == "ROOST_API_TOKENS" and ref["optional"] is True


def test_tracing_sends_otlp_to_the_endpoint_value(helm: ModuleType, default: Rendered) -> None:
    assert not {"ROOST_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"} & set(default.env)  # off by default
    rendered = render(helm, {"tracing": {
        "otlpEndpoint": "http://otel-collector.observability:4318",
        "sampler": "parentbased_traceidratio", "samplerArg": "0.1"}})  # fmt: skip
    env = {k: v.get("value") for k, v in rendered.env.items()}
    assert env["ROOST_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert env["OTEL_SERVICE_NAME"] == rendered.statefulset["metadata"]["name"]
    with pytest.raises(Exception, match="otlpEndpoint"):
        render(helm, {"tracing": {"otlpEndpoint": "collector:4318"}})
