"""One reconciliation of an ActorHost (or an ActorSystem): read what it needs, plan chart
values, render, apply what is rendered, remove what no longer is, and report status.

Everything outside goes through `Kube` and a renderer, so the tests run it against an
in-memory API with the real chart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import conditions as cond
from .chart import GROUP_VERSION, MANAGER, Manifest, is_owned_by, owned
from .conditions import Condition, Problem
from .host import Plan, Secrets, Settings, system_name
from .kube import Kube
from .plan import plan_host
from .system import SystemView, decode_secret, read_system, statestore_url

# Every kind the chart renders for a host, in the order they are applied: what pods mount and
# read exists before the StatefulSet that starts them.
KINDS = (
    ("v1", "ServiceAccount"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("cert-manager.io/v1", "Certificate"),
    ("v1", "Service"),
    ("policy/v1", "PodDisruptionBudget"),
    ("apps/v1", "StatefulSet"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
)
ORDER = {kind: i for i, (_, kind) in enumerate(KINDS)}
KEY_ENV, SECRET_ENV = "ROOST_STATESTORE_KEY", "ROOST_CLUSTER_SECRET"


class Renderer(Protocol):
    def __call__(
        self, values: Mapping[str, Any], release: str, namespace: str
    ) -> list[Manifest]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one reconciliation did, and the status to write."""

    status: dict[str, Any]
    applied: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()
    # A problem that may clear by itself (a Secret or ActorSystem not created yet).
    retry: bool = False


class _Refused(Exception):
    def __init__(self, problems: list[Problem], retry: bool = False, ignored: tuple[str, ...] = ()):
        super().__init__("; ".join(p.message for p in problems))
        self.problems, self.retry, self.ignored = problems, retry, ignored


@dataclass
class Reconciler:
    """Reconciles ActorHosts and ActorSystems through `kube`, rendering with `render`."""

    kube: Kube
    render: Renderer
    settings: Settings
    new_key: Callable[[], str]
    new_secret: Callable[[], str]
    now: Callable[[], str]

    # --- ActorHost ---------------------------------------------------------------------------

    def host(self, host: Mapping[str, Any]) -> Outcome:
        """Bring the host's objects to what the chart renders for it; refuse with a condition
        (and create nothing) when it cannot run."""
        try:
            view = self._system_of(host)
            secrets = self._secrets(host, view)
            plan = plan_host(host, view, secrets, self.settings)
            if not isinstance(plan, Plan):
                raise _Refused(plan, ignored=view.ignored)
            desired = self._desired(host, plan)
        except _Refused as refusal:
            accepted = cond.refused(refusal.problems)
            return Outcome(self._host_status(host, accepted, refusal.ignored), retry=refusal.retry)
        applied: list[str] = []
        for manifest in desired:
            what = f"{manifest['kind']}/{manifest['metadata']['name']}"
            try:
                self.kube.apply(manifest)
            except Exception as exc:  # the API's answer (a missing CRD, a webhook) is the reason
                problem = Problem("ApplyFailed", f"{what} was not applied: {exc}")
                status = self._host_status(host, cond.refused([problem]), plan.ignored)
                return Outcome(status, tuple(applied), retry=True)
            applied.append(what)
        pruned = self._prune(host, desired)
        message = f"rendered {len(desired)} objects from the chart"
        if plan.notes:
            message += "; " + "; ".join(plan.notes)
        accepted = Condition(cond.ACCEPTED, True, "Reconciled", message)
        status = self._host_status(host, accepted, plan.ignored)
        return Outcome(status, tuple(applied), tuple(pruned))

    def _system_of(self, host: Mapping[str, Any]) -> SystemView:
        name, namespace = system_name(host), host["metadata"]["namespace"]
        if not name:
            raise _Refused(
                [
                    Problem(
                        "MissingActorSystem",
                        "annotation spawn-eigr.io/actor-system must name the host's ActorSystem",
                    )
                ]
            )
        system = self.kube.get(GROUP_VERSION, "ActorSystem", namespace, name)
        if system is None:
            raise _Refused(
                [
                    Problem(
                        "ActorSystemNotFound",
                        f"no ActorSystem {name!r} in namespace {namespace!r}",
                    )
                ],
                retry=True,
            )
        view = read_system(system)
        if view.problems:
            problems = [
                Problem("ActorSystemRefused", f"ActorSystem {name!r}: {p.message}")
                for p in view.problems
            ]
            raise _Refused(problems, ignored=view.ignored)
        return view

    def credentials(self, view: SystemView) -> tuple[dict[str, str] | None, str]:
        """The decoded credentials Secret, looked up in the system's namespace and then the
        operator's (where Spawn's guide creates it), and where it was looked for."""
        places = [view.namespace]
        if self.settings.credentials_namespace not in places:
            places.append(self.settings.credentials_namespace)
        for namespace in places:
            secret = self.kube.get("v1", "Secret", namespace, view.credentials)
            if secret is not None:
                return decode_secret(secret), namespace
        return None, " or ".join(repr(n) for n in places)

    def _secrets(self, host: Mapping[str, Any], view: SystemView) -> Secrets:
        meta = host["metadata"]
        credentials: dict[str, str] = {}
        if view.credentials:
            found, where = self.credentials(view)
            if found is None:
                raise _Refused(
                    [
                        Problem(
                            "CredentialsSecretNotFound",
                            f"no Secret {view.credentials!r} (the ActorSystem's "
                            f"credentialsSecretRef) in namespace {where}",
                        )
                    ],
                    retry=True,
                    ignored=view.ignored,
                )
            credentials = found
        url, problems = statestore_url(view, credentials)
        if problems:
            raise _Refused(problems, retry=True, ignored=view.ignored)
        kept: dict[str, str] = {}
        current = self.kube.get("v1", "Secret", meta["namespace"], meta["name"])
        if current is not None and is_owned_by(current, meta["uid"]):
            kept = decode_secret(current)
        key = credentials.get("encryptionKey", "").strip() or kept.get(KEY_ENV) or self.new_key()
        secret = kept.get(SECRET_ENV) or self.new_secret()
        return Secrets(statestore_url=url, statestore_key=key, cluster_secret=secret)

    def _desired(self, host: Mapping[str, Any], plan: Plan) -> list[Manifest]:
        meta = host["metadata"]
        try:
            rendered = self.render(plan.values, meta["name"], meta["namespace"])
        except Exception as exc:  # the chart's own checks (helm's fail) name the value
            raise _Refused([Problem("ChartRefused", str(exc))], ignored=plan.ignored) from exc
        desired = sorted(
            (owned(m, host) for m in rendered), key=lambda m: ORDER.get(m["kind"], len(ORDER))
        )
        conflicts = []
        for manifest in desired:
            existing = self.kube.get(
                manifest["apiVersion"],
                manifest["kind"],
                meta["namespace"],
                manifest["metadata"]["name"],
            )
            if existing is not None and not is_owned_by(existing, meta["uid"]):
                conflicts.append(f"{manifest['kind']} {manifest['metadata']['name']!r}")
        if conflicts:
            raise _Refused(
                [
                    Problem(
                        "NameConflict",
                        f"{', '.join(conflicts)} already exist and belong to something else; "
                        "rename the ActorHost or remove them",
                    )
                ],
                ignored=plan.ignored,
            )
        return desired

    def _prune(self, host: Mapping[str, Any], desired: list[Manifest]) -> list[str]:
        """Delete what this host owned and the chart no longer renders (an autoscaler removed,
        a ServiceMonitor switched off)."""
        meta = host["metadata"]
        keep = {(m["kind"], m["metadata"]["name"]) for m in desired}
        selector = (
            f"app.kubernetes.io/instance={meta['name']},app.kubernetes.io/managed-by={MANAGER}"
        )
        pruned = []
        for api_version, kind in KINDS:
            for item in self.kube.list(api_version, kind, meta["namespace"], selector):
                name = item["metadata"]["name"]
                if (kind, name) not in keep and is_owned_by(item, meta["uid"]):
                    self.kube.delete(api_version, kind, meta["namespace"], name)
                    pruned.append(f"{kind}/{name}")
        return pruned

    def _host_status(
        self, host: Mapping[str, Any], accepted: Condition, ignored: tuple[str, ...]
    ) -> dict[str, Any]:
        meta = host["metadata"]
        status: dict[str, Any] = {"observedGeneration": meta.get("generation")}
        sts = self.kube.get("apps/v1", "StatefulSet", meta["namespace"], meta["name"])
        if sts is None or not is_owned_by(sts, meta["uid"]):
            ready = Condition(cond.READY, False, "NoWorkload", "no StatefulSet: see Accepted")
        else:
            ready, more = self._readiness(sts)
            status.update(more)
        new = [accepted, cond.ignored(ignored), ready]
        old = (host.get("status") or {}).get("conditions") or []
        status["conditions"] = cond.merged(old, new, self.now(), meta.get("generation"))
        return status

    def _readiness(self, sts: Mapping[str, Any]) -> tuple[Condition, dict[str, Any]]:
        meta, spec, st = sts["metadata"], sts.get("spec") or {}, sts.get("status") or {}
        # Autoscaled, the StatefulSet has no replicas of its own: the autoscaler sets status.
        want = spec.get("replicas", max(int(st.get("replicas") or 0), 1))
        ready = int(st.get("readyReplicas") or 0)
        labels = (spec.get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods = self.kube.list("v1", "Pod", meta["namespace"], selector)
        members = sorted(p["metadata"]["name"] for p in pods if _pod_ready(p))
        more = {
            "replicas": int(st.get("replicas") or 0),
            "readyReplicas": ready,
            "members": members,
            "selector": selector,
            "statefulSet": meta["name"],
            "service": meta["name"],
        }
        if want and ready >= want:
            return Condition(cond.READY, True, "Ready", f"{ready}/{want} nodes ready"), more
        return Condition(cond.READY, False, "Progressing", f"{ready}/{want} nodes ready"), more

    # --- ActorSystem -------------------------------------------------------------------------

    def system(self, system: Mapping[str, Any]) -> Outcome:
        """The system's own status: refused (with why), or accepted with its credentials found."""
        view = read_system(system)
        meta = system["metadata"]
        retry = False
        if view.problems:
            accepted = cond.refused(view.problems)
        elif view.credentials and self.credentials(view)[0] is None:
            where = self.credentials(view)[1]
            accepted = Condition(
                cond.ACCEPTED,
                False,
                "CredentialsSecretNotFound",
                f"no Secret {view.credentials!r} in namespace {where}",
            )
            retry = True
        else:
            accepted = Condition(cond.ACCEPTED, True, "Valid", f"statestore {view.scheme}")
        new = [accepted, cond.ignored(view.ignored)]
        old = (system.get("status") or {}).get("conditions") or []
        status = {
            "observedGeneration": meta.get("generation"),
            "conditions": cond.merged(old, new, self.now(), meta.get("generation")),
        }
        return Outcome(status, retry=retry)

    def hosts_of(self, system: Mapping[str, Any]) -> list[Manifest]:
        """The ActorHosts that name this system, to reconcile again when it changes."""
        meta = system["metadata"]
        hosts = self.kube.list(GROUP_VERSION, "ActorHost", meta["namespace"])
        return [h for h in hosts if system_name(h) == meta["name"]]


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    for item in (pod.get("status") or {}).get("conditions") or []:
        if item.get("type") == "Ready":
            return bool(item.get("status") == "True")
    return False
