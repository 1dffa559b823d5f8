"""The Grafana dashboard loads, and every PromQL expression uses only metrics (and labels) that a
node exports, so a renamed metric breaks this test instead of a panel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from roost.metrics import Metrics
from tests.metrics.test_scrape import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "helm/roost/dashboards/roost.json"
TEMPLATE = ROOT / "helm/roost/templates/dashboard-configmap.yaml"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
TARGET_LABELS = {"instance", "job", "le"}  # added by Prometheus at scrape time, or `le`


def exported() -> dict[str, str]:
    """Every sample name a node exports -> its family name."""
    text = Metrics("n1").render().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for suffix in SUFFIXES[fam.type]:
            out[fam.name + suffix] = fam.name
    return out


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_loads_and_has_panels_with_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    graphs = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(graphs) >= 10
    assert all(p.get("targets") and all(t["expr"] for t in p["targets"]) for p in graphs)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_expression_uses_exported_metrics_and_labels() -> None:
    names = exported()
    dashboard = json.loads(DASHBOARD.read_text())
    used = set()
    for expr in exprs(dashboard):
        metrics = re.findall(r"\broost_[a-z0-9_]+", expr)
        assert metrics, expr
        for m in metrics:
            assert m in names, f"{m} (in {expr}) is not exported"
            used.add(names[m])
        labels: set[str] = set()
        for m in metrics:
            labels |= set(FAMILIES.get(names[m], ("", ()))[1])
        for selector in re.findall(r"\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector):
                assert label in labels, f"label {label} not on {metrics}: {expr}"
        for group in re.findall(r"\bby \(([^)]*)\)", expr):
            for label in (g.strip() for g in group.split(",")):
                assert label in labels | TARGET_LABELS, f"by ({label}) in {expr}"
    # the list: every one of these has a panel
    for family in (
        "roost_invocations",
        "roost_invocation_duration_seconds",
        "roost_active_activations",
        "roost_handoffs",
        "roost_ring_version",
        "roost_members",
        "roost_statestore_errors",
        "roost_draining",
        # issue 17: the peer link's health
        "roost_link_calls",
        "roost_link_roundtrip_seconds",
        "roost_link_connected",
        "roost_link_handshake_failures",
        "roost_link_connections_refused",
    ):
        assert family in used, f"no panel shows {family}"


def test_configmap_template_is_optional_and_ships_the_file() -> None:
    text = TEMPLATE.read_text()
    assert "{{- if .Values.grafanaDashboard.enabled }}" in text
    assert text.rstrip().endswith("{{- end }}")
    (path,) = re.findall(r'\.Files\.Get "([^"]+)"', text)
    assert (TEMPLATE.parents[1] / path).resolve() == DASHBOARD
