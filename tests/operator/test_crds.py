"""The ActorSystem and ActorHost CRDs: valid Kubernetes objects with structural schemas that
accept every resource Spawn documents and refuse what Roost cannot run."""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import need

from .conftest import CRDS, EXAMPLES, FIXTURES, crd, fixture, load
from .schema import errors, structural_problems

KUBE_VERSION = "1.30.0"
SPAWN_FILES = [
    FIXTURES / "spawn-system.yaml",
    FIXTURES / "elixir-example.yaml",
    *sorted(EXAMPLES.glob("*.yaml")),
]


@pytest.fixture(scope="module")
def kube_validate() -> ModuleType:
    try:
        import kubernetes_validate
    except ImportError:
        kubernetes_validate = None
    need(kubernetes_validate is not None, "kubernetes-validate is not installed")
    return kubernetes_validate


@pytest.mark.parametrize("path", sorted(CRDS.glob("*.yaml")), ids=lambda p: p.name)
def test_crd_is_a_valid_kubernetes_1_30_object(path: Path, kube_validate: ModuleType) -> None:
    kube_validate.validate(load(path), KUBE_VERSION, strict=True)


@pytest.mark.parametrize("kind", ["ActorSystem", "ActorHost"])
def test_crd_is_spawns_group_and_version_with_a_structural_schema(kind: str) -> None:
    definition = crd(kind)
    assert definition["spec"]["group"] == "spawn-eigr.io"
    assert definition["spec"]["names"]["kind"] == kind
    (version,) = definition["spec"]["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    assert version["subresources"]["status"] == {}
    assert structural_problems(version["schema"]["openAPIV3Schema"]) == []


def test_the_structural_check_can_fail() -> None:
    bad = {"type": "object", "properties": {"a": {"properties": {}}, "b": {"type": "array"}}}
    assert structural_problems(bad) == ["/a: no type", "/b: array without items"]


def test_roost_settings_are_the_same_in_both_crds() -> None:
    """spec.roost of a system gives every host its defaults: one schema, no drift."""

    def roost(kind: str) -> Any:
        schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        settings = copy.deepcopy(schema["properties"]["spec"]["properties"]["roost"])
        settings.pop("description")
        return settings

    assert roost("ActorSystem") == roost("ActorHost")
    assert {"leaseSeconds", "drainTimeoutSeconds", "tls", "policies", "tracing"} <= set(
        roost("ActorHost")["properties"]
    )


@pytest.mark.parametrize("path", SPAWN_FILES, ids=lambda p: p.name)
def test_spawns_documented_resources_are_accepted(path: Path) -> None:
    resource = load(path)
    assert errors(crd(resource["kind"]), resource) == []


@pytest.mark.parametrize(
    ("kind", "edit", "message"),
    [
        ("ActorHost", {"spec": {"replicas": -1}}, "spec/replicas: -1 is less than the minimum"),
        ("ActorHost", {"spec": {"host": {"imag": "x"}}}, "'imag' was unexpected"),
        ("ActorHost", {"spec": {"host": {"image": ""}}}, "spec/host/image: '' should be non-empty"),
        ("ActorHost", {"spec": {"autoscaler": {"min": 0}}}, "spec/autoscaler/min: 0 is less"),
        ("ActorHost", {"spec": {"host": {"sdk": "cobol"}}}, "'cobol' is not one of"),
        ("ActorHost", {"spec": {"roost": {"leaseSecs": 5}}}, "'leaseSecs' was unexpected"),
        ("ActorSystem", {"spec": {"statestore": {"typ": "MySql"}}}, "'typ' was unexpected"),
        ("ActorSystem", {"spec": {"cluster": {"kind": "tcp"}}}, "'tcp' is not one of"),
    ],
)
def test_schema_refuses_what_roost_cannot_run(
    kind: str, edit: dict[str, Any], message: str
) -> None:
    base = fixture("elixir-example.yaml" if kind == "ActorHost" else "spawn-system.yaml")
    resource = _merged(base, edit)
    found = errors(crd(kind), resource)
    assert any(message in e for e in found), found


def test_a_host_without_spec_host_is_refused() -> None:
    host = fixture("elixir-example.yaml")
    del host["spec"]["host"]
    assert errors(crd("ActorHost"), host) == [": 'host' is a required property"] or any(
        "'host' is a required property" in e for e in errors(crd("ActorHost"), host)
    )


def _merged(base: dict[str, Any], edit: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in edit.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out
