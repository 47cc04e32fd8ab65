"""The kinds the reconciler accepts: their apiVersions, schema file and Kubernetes type.

Consulted first for every document the loader reads (reconciler.manifests.document):
an (apiVersion, kind) pair not listed here is refused before any other check.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.api.types import CLUSTER_SCOPED_KINDS, NODE_API_VERSION

APPS_VERSIONS = ("apps/v1", "apps/v1beta2", "apps/v1beta1", "extensions/v1beta1")


@dataclass(frozen=True)
class KindInfo:
    """How one kind is validated."""

    kind: str
    api_versions: tuple[str, ...]  # the first one is current; the others are older spellings
    schema: str  # file name in schemas/
    k8s_type: str | None  # Kubernetes' definition name, for telling unsupported fields from typos

    @property
    def cluster_scoped(self) -> bool:
        return self.kind in CLUSTER_SCOPED_KINDS


_CORE = "io.k8s.api.core.v1."
_APPS = "io.k8s.api.apps.v1."

KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("Pod", ("v1",), "pod.json", _CORE + "Pod"),
        KindInfo("ReplicationController", ("v1",), "replicationcontroller.json",
                 _CORE + "ReplicationController"),
        KindInfo("Service", ("v1",), "service.json", _CORE + "Service"),
        KindInfo("Endpoints", ("v1",), "endpoints.json", _CORE + "Endpoints"),
        KindInfo("Namespace", ("v1",), "namespace.json", _CORE + "Namespace"),
        # apps/v1beta1 never served ReplicaSet; extensions/v1beta1 and apps/v1beta2 did.
        KindInfo("ReplicaSet", ("apps/v1", "apps/v1beta2", "extensions/v1beta1"), "replicaset.json",
                 _APPS + "ReplicaSet"),
        KindInfo("Deployment", APPS_VERSIONS, "deployment.json", _APPS + "Deployment"),
        KindInfo("StatefulSet", APPS_VERSIONS[:3], "statefulset.json", _APPS + "StatefulSet"),
        KindInfo("Node", (NODE_API_VERSION,), "node.json", None),
        KindInfo("ConfigMap", ("v1",), "configmap.json", _CORE + "ConfigMap"),
        KindInfo("Secret", ("v1",), "secret.json", _CORE + "Secret"),
        KindInfo("PersistentVolumeClaim", ("v1",), "persistentvolumeclaim.json",
                 _CORE + "PersistentVolumeClaim"),
    )
}

# Kubernetes kinds people commonly commit that we do not run: named in the error so
# the user knows it is a known kind we refuse, not a typo.
KNOWN_UNSUPPORTED = frozenset({
    "PersistentVolume", "DaemonSet", "Job",
    "CronJob", "Ingress", "EndpointSlice", "ServiceAccount", "Role", "RoleBinding",
    "ClusterRole", "ClusterRoleBinding", "HorizontalPodAutoscaler", "NetworkPolicy",
    "PodDisruptionBudget", "LimitRange", "ResourceQuota", "StorageClass",
    "CustomResourceDefinition", "PodTemplate",
})


def lookup(api_version: object, kind: object) -> tuple[KindInfo | None, str, str]:
    """(KindInfo, "", "") for a served pair, else (None, the field at fault, why it is refused)."""
    if not isinstance(kind, str) or not kind:
        return None, "kind", "required field is missing (or not a string)"
    if not isinstance(api_version, str) or not api_version:
        return None, "apiVersion", "required field is missing (or not a string)"
    info = KINDS.get(kind)
    if info is None:
        if kind in KNOWN_UNSUPPORTED:
            return None, "kind", f"kind {kind} is not supported"
        supported = ", ".join(sorted(KINDS))
        return None, "kind", f"unknown kind {kind!r} (supported: {supported})"
    if api_version not in info.api_versions:
        return None, "apiVersion", (f"apiVersion {api_version!r} does not serve kind {kind} "
                                    f"(use {info.api_versions[0]})")
    return info, "", ""
