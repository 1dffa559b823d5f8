"""Offline checks of the Dockerfile and the Helm chart.

helm-python-sdk (Helm 4 embedded as a shared library) lints and renders the chart, and
kubernetes-validate checks what it renders against the Kubernetes 1.30 schemas it ships; nothing
here touches a network or a cluster. A missing tool skips with the reason, except under CI=true,
where it fails (see `need`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "roost"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
RELEASE = "roost"
NAMESPACE = "roost-prod"
KUBE_VERSION = "1.30.0"

Manifest = dict[str, Any]


def _load_helm() -> tuple[ModuleType | None, str]:
    try:
        import helm_python

        helm_python.helm_sdk_version()  # loads the native library
    except Exception as exc:  # ImportError, or a libhelm_c that does not load on this machine
        return None, f"helm-python-sdk is unusable here ({exc}); pip install -e '.[dev]'"
    return helm_python, ""


@pytest.fixture(scope="session")
def helm() -> ModuleType:
    module, reason = _load_helm()
    need(module is not None, reason)
    assert module is not None
    return module


def production_values() -> dict[str, Any]:
    return dict(yaml.safe_load(PRODUCTION_VALUES.read_text()))


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` merged in, maps recursively (what `helm -f a -f b` does)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True, slots=True)
class Rendered:
    """The manifests of one `helm template`, and lookups into them."""

    manifests: tuple[Manifest, ...]
    notes: str

    def all(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Manifest:
        found = [m for m in self.all(kind) if name is None or m["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, rendered {len(found)}"
        return found[0]

    def kinds(self) -> list[str]:
        return sorted(m["kind"] for m in self.manifests)

    @property
    def statefulset(self) -> Manifest:
        return self.one("StatefulSet")

    @property
    def pod(self) -> Manifest:
        return dict(self.statefulset["spec"]["template"])

    @property
    def container(self) -> Manifest:
        containers = self.pod["spec"]["containers"]
        assert len(containers) == 1
        return dict(containers[0])

    @property
    def env(self) -> dict[str, Manifest]:
        return {e["name"]: e for e in self.container.get("env", [])}

    @property
    def config(self) -> dict[str, str]:
        # the node's settings: the ConfigMap named like the StatefulSet (not the policies one)
        return dict(self.one("ConfigMap", self.statefulset["metadata"]["name"])["data"])

    def __iter__(self) -> Iterator[Manifest]:
        return iter(self.manifests)


def render(helm: ModuleType, values: Mapping[str, Any] | None = None) -> Rendered:
    with helm.Chart.load(CHART) as chart:
        files = chart.render(dict(values or {}), name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests = tuple(
        doc
        for path, text in sorted(files.items())
        if path.endswith((".yaml", ".yml"))
        for doc in yaml.safe_load_all(text)
        if doc
    )
    notes = next((text for path, text in files.items() if path.endswith("NOTES.txt")), "")
    return Rendered(manifests, notes)
