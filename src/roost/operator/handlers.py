"""The kopf layer: watch ActorHosts and ActorSystems, hand each to the `Reconciler`, write its
status. Kept thin: everything it decides is in the modules it calls (and their tests).

Run as `roost-operator` (the Dockerfile's `operator` target; docs/kubernetes.md).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import secrets
from collections.abc import Sequence
from typing import Any

import kopf

from roost.statestore.crypto import generate_key

from .chart import ChartRenderer
from .host import Settings
from .kube import ClusterKube
from .reconcile import Reconciler

GROUP, VERSION = "spawn-eigr.io", "v1"
Log = logging.Logger | logging.LoggerAdapter[Any]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def settings_from_env() -> Settings:
    """The operator's settings, from the environment its Deployment (the chart) sets."""
    return Settings(
        node_image=os.environ.get("ROOST_NODE_IMAGE", "roost:0.1.0"),
        credentials_namespace=os.environ.get("ROOST_OPERATOR_CREDENTIALS_NAMESPACE", "default"),
        cluster_domain=os.environ.get("ROOST_OPERATOR_CLUSTER_DOMAIN", "cluster.local"),
    )


def _resync() -> float:
    return float(os.environ.get("ROOST_OPERATOR_RESYNC_SECONDS", "60"))


@kopf.on.startup()
def startup(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
    """One Reconciler for the process, kept in kopf's memo (no module state)."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="roost.kopf")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="roost.kopf")
    memo.reconciler = Reconciler(
        kube=ClusterKube(),
        render=ChartRenderer(),
        settings=settings_from_env(),
        new_key=generate_key,
        new_secret=lambda: secrets.token_urlsafe(36),
        now=_now,
    )


def _reconcile_host(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Log) -> None:
    """Reconcile and write status; kopf's per-object logger also posts these as Events."""
    outcome = memo.reconciler.host(body)
    patch.status.update(outcome.status)
    accepted = outcome.status["conditions"][0]
    if outcome.pruned:
        logger.info("removed %s: no longer rendered", ", ".join(outcome.pruned))
    if accepted["status"] != "True":
        log = logger.warning if outcome.retry else logger.error
        log("%s: %s", accepted["reason"], accepted["message"])


@kopf.on.create(GROUP, VERSION, "actorhosts")
@kopf.on.update(GROUP, VERSION, "actorhosts")
@kopf.on.resume(GROUP, VERSION, "actorhosts")
def host_changed(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Log, **_: Any
) -> None:
    """A new or changed ActorHost (or the operator restarting): reconcile it now."""
    _reconcile_host(body, patch, memo, logger)


@kopf.timer(GROUP, VERSION, "actorhosts", interval=_resync(), initial_delay=_resync())
def host_resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Log, **_: Any) -> None:
    """Periodically: status (ready nodes, members), drift, and a Secret or system that was
    missing and has appeared."""
    _reconcile_host(body, patch, memo, logger)


@kopf.on.create(GROUP, VERSION, "actorsystems")
@kopf.on.update(GROUP, VERSION, "actorsystems")
@kopf.on.resume(GROUP, VERSION, "actorsystems")
def system_changed(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """The system's status, then every host in it again (statestore or TLS may have moved)."""
    reconciler: Reconciler = memo.reconciler
    patch.status.update(reconciler.system(body).status)
    for host in reconciler.hosts_of(body):
        outcome = reconciler.host(host)
        meta = host["metadata"]
        reconciler.kube.patch_status(
            f"{GROUP}/{VERSION}", "ActorHost", meta["namespace"], meta["name"], outcome.status
        )


def main(argv: Sequence[str] | None = None) -> None:
    """`roost-operator`: run the handlers until SIGTERM."""
    parser = argparse.ArgumentParser(prog="roost-operator", description=__doc__)
    parser.add_argument("--namespace", action="append", default=[], help="watch only these")
    parser.add_argument("--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument("--liveness", default="http://0.0.0.0:8080/healthz")
    args = parser.parse_args(argv)
    if not args.namespace and not args.all_namespaces:
        parser.error("give --namespace NAME (repeatable) or --all-namespaces")
    kopf.run(
        standalone=True,
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
    )
