"""Fixtures of the operator's tests: Spawn's resources, an in-memory Kubernetes API, and a
Reconciler on it that renders the real chart (embedded Helm, offline)."""

from __future__ import annotations

import base64
import copy
import itertools
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from roost.operator.chart import ChartRenderer
from roost.operator.host import Settings
from roost.operator.reconcile import Reconciler
from tests.conftest import need
from tests.helm.conftest import CHART, _load_helm

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = FIXTURES / "spawn-examples"
CRDS = CHART / "files" / "crds"
NODE_IMAGE = "registry.example/roost:0.1.0"
KEY = base64.b64encode(bytes(range(32))).decode()
SETTINGS = Settings(node_image=NODE_IMAGE, credentials_namespace="eigr-functions")

Manifest = dict[str, Any]


def load(path: Path) -> Manifest:
    return dict(yaml.safe_load(path.read_text()))


def fixture(name: str) -> Manifest:
    return load(FIXTURES / name)


def example(name: str) -> Manifest:
    return load(EXAMPLES / name)


def crd(kind: str) -> Manifest:
    return load(CRDS / f"{kind.lower()}s.spawn-eigr.io.yaml")


def credentials_secret(name: str, namespace: str, **data: str) -> Manifest:
    """A statestore credentials Secret with Spawn's keys, as the API returns it (base64)."""
    values = {
        "database": "eigr-functions-db",
        "host": "db",
        "port": "5432",
        "username": "admin",
        "password": "admin",
        "encryptionKey": KEY,
        **data,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items() if v},
    }


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeKube:
    """An in-memory API server: objects by (kind, namespace, name), every call recorded.

    `apply` keeps what the server owns (uid, status) like server-side apply; kinds listed in
    `unserved` behave as if their CRD were not installed."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Manifest] = {}
        self.calls: list[tuple[str, str]] = []
        self.unserved: set[str] = set()
        self._uids = itertools.count(1)

    def add(self, manifest: Mapping[str, Any]) -> Manifest:
        obj = copy.deepcopy(dict(manifest))
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        meta.setdefault("generation", 1)
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj
        return obj

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        self.calls.append(("get", f"{kind}/{namespace}/{name}"))
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found else None

    def list(
        self, api_version: str, kind: str, namespace: str, selector: str = ""
    ) -> list[Manifest]:
        if kind in self.unserved:
            return []
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == kind
            and ns == namespace
            and _matches(obj["metadata"].get("labels") or {}, selector)
        ]

    def apply(self, manifest: Mapping[str, Any]) -> Manifest:
        if manifest["kind"] in self.unserved:
            raise LookupError(f"the cluster serves no {manifest['kind']}")
        meta = manifest["metadata"]
        self.calls.append(("apply", f"{manifest['kind']}/{meta['namespace']}/{meta['name']}"))
        key = (manifest["kind"], meta["namespace"], meta["name"])
        old = self.objects.get(key)
        obj = copy.deepcopy(dict(manifest))
        if old is not None:
            obj["metadata"]["uid"] = old["metadata"]["uid"]
            if "status" in old:
                obj["status"] = old["status"]
        else:
            obj["metadata"]["uid"] = f"uid-{next(self._uids)}"
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        self.calls.append(("delete", f"{kind}/{namespace}/{name}"))
        self.objects.pop((kind, namespace, name), None)

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        self.calls.append(("status", f"{kind}/{namespace}/{name}"))
        self.objects[(kind, namespace, name)].setdefault("status", {}).update(status)

    # --- what tests look at -------------------------------------------------------------

    def applied(self) -> list[str]:
        return [what for call, what in self.calls if call == "apply"]

    def owned_by(self, owner: Mapping[str, Any]) -> list[Manifest]:
        uid = owner["metadata"]["uid"]
        return [
            obj
            for obj in self.objects.values()
            if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])
        ]

    def one(self, kind: str, namespace: str, name: str) -> Manifest:
        return self.objects[(kind, namespace, name)]


@pytest.fixture(scope="session")
def renderer() -> ChartRenderer:
    module, reason = _load_helm()
    need(module is not None, reason)
    return ChartRenderer(CHART)


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def reconciler(kube: FakeKube, renderer: ChartRenderer) -> Reconciler:
    secrets = (f"cluster-secret-{i:02d}-" + "x" * 24 for i in itertools.count())
    return Reconciler(
        kube=kube,
        render=renderer,
        settings=SETTINGS,
        new_key=lambda: base64.b64encode(bytes(32)).decode(),
        new_secret=lambda: next(secrets),
        now=lambda: "2026-01-01T00:00:00Z",
    )


def secret_from_kubectl(script: str, generated_key: str) -> Manifest:
    """The Secret that the seed's `kubectl create secret generic` command creates, as the API
    returns it; `$(openssl rand -base64 32)` is replaced by a fixed key."""
    command = " ".join(line for line in script.splitlines() if not line.startswith("#"))
    command = command.replace("\\", " ").replace("$(openssl rand -base64 32)", generated_key)
    words = shlex.split(command)
    data = {}
    for word in words:
        if word.startswith("--from-literal="):
            key, _, value = word.removeprefix("--from-literal=").partition("=")
            data[key] = value
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": words[words.index("generic") + 1],
            "namespace": words[words.index("-n") + 1],
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


@pytest.fixture
def seed(kube: FakeKube) -> Iterator[Manifest]:
    """The seed's three resources in the fake API: the ActorSystem, its credentials Secret (made
    by the guide's kubectl command, in eigr-functions) and the ActorHost, which is yielded."""
    kube.add(fixture("spawn-system.yaml"))
    kube.add(secret_from_kubectl((FIXTURES / "credentials-secret.sh").read_text(), KEY))
    yield kube.add(fixture("elixir-example.yaml"))
