"""The Helm chart rendered for one ActorHost, through the same embedded Helm (helm-python-sdk)
the chart's own tests use, and the rendered objects made the ActorHost's own."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

Manifest = dict[str, Any]
MANAGER = "roost-operator"
GROUP_VERSION = "spawn-eigr.io/v1"
# Where the operator image puts the chart; a checkout finds it beside src/.
IMAGE_CHART = Path("/opt/roost/chart")


def chart_dir() -> Path:
    """The chart: ROOST_CHART_DIR, the image's copy, or the checkout's helm/roost."""
    configured = os.environ.get("ROOST_CHART_DIR")
    if configured:
        return Path(configured)
    if IMAGE_CHART.is_dir():
        return IMAGE_CHART
    return Path(__file__).resolve().parents[3] / "helm" / "roost"


class ChartRenderer:
    """`helm template` of the chart with given values; the chart is loaded once per render."""

    def __init__(self, chart: Path | None = None) -> None:
        self.chart = chart or chart_dir()

    def __call__(self, values: Mapping[str, Any], release: str, namespace: str) -> list[Manifest]:
        import helm_python

        with helm_python.Chart.load(self.chart) as chart:
            files = chart.render(dict(values), name=release, namespace=namespace, is_install=True)
        return [
            doc
            for path, text in sorted(files.items())
            if path.endswith((".yaml", ".yml"))
            for doc in yaml.safe_load_all(text)
            if doc
        ]


def owned(manifest: Manifest, owner: Mapping[str, Any]) -> Manifest:
    """`manifest` in the owner's namespace, owned by it (deletion cascades), labelled as the
    operator's rather than Helm's."""
    meta = owner["metadata"]
    out = dict(manifest)
    mine = dict(out.get("metadata") or {})
    mine["namespace"] = meta["namespace"]
    labels = dict(mine.get("labels") or {})
    labels["app.kubernetes.io/managed-by"] = MANAGER
    mine["labels"] = labels
    mine["ownerReferences"] = [
        {
            "apiVersion": GROUP_VERSION,
            "kind": "ActorHost",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    out["metadata"] = mine
    return out


def is_owned_by(manifest: Mapping[str, Any], uid: str) -> bool:
    refs = (manifest.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)
