"""The few Kubernetes API calls the operator makes, behind a protocol: the real client here,
an in-memory fake in the tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

Manifest = dict[str, Any]
FIELD_MANAGER = "roost-operator"


class Kube(Protocol):
    """Namespaced objects by apiVersion, kind, namespace and name."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        """The object, or None when there is none (or its kind is not served)."""

    def list(
        self, api_version: str, kind: str, namespace: str, selector: str = ""
    ) -> list[Manifest]:
        """Objects matching a label selector; empty when the kind is not served."""

    def apply(self, manifest: Mapping[str, Any]) -> Manifest:
        """Server-side apply as the operator's field manager; the object as stored."""

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete the object (its dependents by the garbage collector); gone already is fine."""

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        """Merge `status` into the object's status subresource."""


class ClusterKube:
    """`Kube` over the official client's dynamic API (in-cluster or kubeconfig credentials)."""

    def __init__(self) -> None:
        from kubernetes import config, dynamic
        from kubernetes.client import ApiClient

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        self.client = dynamic.DynamicClient(ApiClient())

    def _resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return None

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(api_version, kind)
        if resource is None:
            return None
        try:
            return dict(resource.get(name=name, namespace=namespace).to_dict())
        except NotFoundError:
            return None

    def list(
        self, api_version: str, kind: str, namespace: str, selector: str = ""
    ) -> list[Manifest]:
        resource = self._resource(api_version, kind)
        if resource is None:
            return []
        found = resource.get(namespace=namespace, label_selector=selector or None)
        return [dict(item) for item in found.to_dict().get("items") or []]

    def apply(self, manifest: Mapping[str, Any]) -> Manifest:
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        if resource is None:
            raise LookupError(f"the cluster serves no {manifest['apiVersion']} {manifest['kind']}")
        meta = manifest["metadata"]
        stored = self.client.server_side_apply(
            resource,
            body=dict(manifest),
            name=meta["name"],
            namespace=meta.get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return dict(stored.to_dict())

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(api_version, kind)
        if resource is None:
            return
        try:
            resource.delete(name=name, namespace=namespace, propagation_policy="Background")
        except NotFoundError:
            return

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        resource = self._resource(api_version, kind)
        if resource is None:
            return
        resource.status.patch(
            body={"status": dict(status)},
            name=name,
            namespace=namespace,
            content_type="application/merge-patch+json",
        )
