"""The kopf handlers, called as kopf calls them, on the fake API: they only pass through."""

from __future__ import annotations

import logging

import kopf
import pytest

from roost.operator import handlers
from roost.operator.reconcile import Reconciler

from .conftest import FakeKube, Manifest

LOG = logging.getLogger("test")


def test_host_handler_writes_the_status_into_kopfs_patch(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    patch = kopf.Patch()
    handlers.host_changed(body=seed, patch=patch, memo=kopf.Memo(reconciler=reconciler), logger=LOG)
    conditions = {c["type"]: c["status"] for c in patch["status"]["conditions"]}
    assert conditions == {"Accepted": "True", "Ignored": "True", "Ready": "False"}
    assert "StatefulSet/default/elixir-example" in kube.applied()


def test_a_refused_host_is_logged_as_an_error(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest, caplog: pytest.LogCaptureFixture
) -> None:
    seed["spec"]["autoscaler"] = {"min": 3, "max": 1}
    patch = kopf.Patch()
    with caplog.at_level(logging.WARNING, logger="test"):
        handlers.host_resync(
            body=seed, patch=patch, memo=kopf.Memo(reconciler=reconciler), logger=LOG
        )
    assert patch["status"]["conditions"][0]["reason"] == "InvalidAutoscaler"
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert kube.applied() == []


def test_system_handler_writes_its_status_and_reconciles_its_hosts(
    reconciler: Reconciler, kube: FakeKube, seed: Manifest
) -> None:
    patch = kopf.Patch()
    system = kube.one("ActorSystem", "default", "spawn-system")
    handlers.system_changed(body=system, patch=patch, memo=kopf.Memo(reconciler=reconciler))
    assert patch["status"]["conditions"][0]["reason"] == "Valid"
    host = kube.one("ActorHost", "default", "elixir-example")
    assert host["status"]["conditions"][0]["reason"] == "Reconciled"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_NODE_IMAGE", "reg/roost@sha256:" + "0" * 64)
    monkeypatch.setenv("ROOST_OPERATOR_CREDENTIALS_NAMESPACE", "eigr-functions")
    settings = handlers.settings_from_env()
    assert settings.node_image.startswith("reg/roost@sha256:")
    assert settings.credentials_namespace == "eigr-functions"
    assert settings.cluster_domain == "cluster.local"


def test_the_command_needs_namespaces_to_watch() -> None:
    with pytest.raises(SystemExit) as caught:
        handlers.main([])
    assert caught.value.code == 2
