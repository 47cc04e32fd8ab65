"""The kinds the reconciler accepts: their apiVersions, schema file and Kubernetes type.

Consulted first for every document the loader reads (reconciler.manifests.document):
an (apiVersion, kind) pair not listed here is refused before any other check; one
Kubernetes no longer serves is accepted with a warning naming the release that
removed it (`deprecation`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.api.types import CLUSTER_SCOPED_KINDS, NODE_API_VERSION

APPS_VERSIONS = ("apps/v1", "apps/v1beta2", "apps/v1beta1", "extensions/v1beta1")


@dataclass(frozen=True)
class KindInfo:
    """How one kind is validated."""

    kind: str
    api_versions: tuple[str, ...]  # the first one is current; the others are older spellings
    schema: str  # file name in reconciler/schemas/
    k8s_type: str | None  # Kubernetes' definition name, for telling unsupported fields from typos
    # apiVersions whose fields differ from the first one's: (apiVersion, schema, k8s_type)
    by_version: tuple[tuple[str, str, str | None], ...] = ()

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
        # apps/v1beta1 never served DaemonSet; extensions/v1beta1 and apps/v1beta2 did.
        KindInfo("DaemonSet", ("apps/v1", "apps/v1beta2", "extensions/v1beta1"),
                 "daemonset.json", _APPS + "DaemonSet"),
        KindInfo("Job", ("batch/v1",), "job.json", "io.k8s.api.batch.v1.Job"),
        KindInfo("Node", (NODE_API_VERSION,), "node.json", None),
        KindInfo("ConfigMap", ("v1",), "configmap.json", _CORE + "ConfigMap"),
        KindInfo("Secret", ("v1",), "secret.json", _CORE + "Secret"),
        KindInfo("PersistentVolumeClaim", ("v1",), "persistentvolumeclaim.json",
                 _CORE + "PersistentVolumeClaim"),
        KindInfo("CronJob", ("batch/v1",), "cronjob.json", "io.k8s.api.batch.v1.CronJob"),
    )
}

# Kinds recorded and not acted on (reconciler.manifests.effects_table says so, once per
# object), so that real application folders load. The schemas are Kubernetes' own
# (scripts/k8s-kind-schemas.py); apiVersions Kubernetes no longer serves have another
# shape and are checked loosely (legacy.json: apiVersion, kind and metadata only).
_LEGACY = "legacy.json"
_LEGACY_CLUSTER = "legacy-cluster.json"
_RBAC = ("rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1beta1")


def _recorded(kind: str, versions: tuple[str, ...], k8s_type: str, *, schema: str = "",
              legacy: tuple[str, ...] = (), cluster: bool = False,
              extra: tuple[tuple[str, str, str | None], ...] = ()) -> KindInfo:
    loose = _LEGACY_CLUSTER if cluster else _LEGACY
    return KindInfo(kind, (*versions, *legacy), schema or f"{kind.lower()}.json",
                    "io.k8s.api." + k8s_type,
                    (*extra, *((v, loose, None) for v in legacy)))


KINDS.update({info.kind: info for info in (
    _recorded("ServiceAccount", ("v1",), "core.v1.ServiceAccount"),
    _recorded("PodDisruptionBudget", ("policy/v1",), "policy.v1.PodDisruptionBudget",
              legacy=("policy/v1beta1",)),
    _recorded("StorageClass", ("storage.k8s.io/v1",), "storage.v1.StorageClass",
              legacy=("storage.k8s.io/v1beta1",), cluster=True),
    _recorded("HorizontalPodAutoscaler", ("autoscaling/v2", "autoscaling/v1"),
              "autoscaling.v2.HorizontalPodAutoscaler",
              legacy=("autoscaling/v2beta2", "autoscaling/v2beta1"),
              extra=(("autoscaling/v1", "horizontalpodautoscaler-v1.json",
                      "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler"),)),
    _recorded("NetworkPolicy", ("networking.k8s.io/v1",), "networking.v1.NetworkPolicy",
              legacy=("extensions/v1beta1",)),
    _recorded("Role", _RBAC[:1], "rbac.v1.Role", legacy=_RBAC[1:]),
    _recorded("RoleBinding", _RBAC[:1], "rbac.v1.RoleBinding", legacy=_RBAC[1:]),
    _recorded("ClusterRole", _RBAC[:1], "rbac.v1.ClusterRole", legacy=_RBAC[1:], cluster=True),
    _recorded("ClusterRoleBinding", _RBAC[:1], "rbac.v1.ClusterRoleBinding", legacy=_RBAC[1:],
              cluster=True),
    _recorded("Ingress", ("networking.k8s.io/v1",), "networking.v1.Ingress",
              legacy=("networking.k8s.io/v1beta1", "extensions/v1beta1")),
)})

# (apiVersion, kind) -> the Kubernetes release that stopped serving it, from Kubernetes'
# "Deprecated API Migration Guide". Accepted with a warning that names it.
REMOVED_IN: dict[tuple[str, str], str] = {
    **{(v, "Deployment"): "1.16" for v in ("extensions/v1beta1", "apps/v1beta1",
                                            "apps/v1beta2")},
    **{(v, "ReplicaSet"): "1.16" for v in ("extensions/v1beta1", "apps/v1beta2")},
    **{(v, "StatefulSet"): "1.16" for v in ("apps/v1beta1", "apps/v1beta2")},
    **{(v, "DaemonSet"): "1.16" for v in ("extensions/v1beta1", "apps/v1beta2")},
    ("extensions/v1beta1", "NetworkPolicy"): "1.16",
    ("extensions/v1beta1", "Ingress"): "1.22",
    ("networking.k8s.io/v1beta1", "Ingress"): "1.22",
    **{("rbac.authorization.k8s.io/v1beta1", k): "1.22"
       for k in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")},
    ("storage.k8s.io/v1beta1", "StorageClass"): "1.22",
    ("policy/v1beta1", "PodDisruptionBudget"): "1.25",
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"): "1.25",
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): "1.26",
}


def deprecation(info: KindInfo, api_version: str) -> str | None:
    """The warning for an apiVersion Kubernetes no longer serves, or None."""
    removed = REMOVED_IN.get((api_version, info.kind))
    if removed is None:
        return None
    current = info.api_versions[0]
    loose = any(v == api_version and schema.startswith("legacy")
                for v, schema, _ in info.by_version)
    how = "recorded with only apiVersion, kind and metadata checked" if loose else \
        f"read here as {current}"
    return (f"apiVersion {api_version} of {info.kind} was removed in Kubernetes {removed} "
            f"(use {current}); {how}")


# Kubernetes kinds people commonly commit that we do not run: named in the error so
# the user knows it is a known kind we refuse, not a typo.
KNOWN_UNSUPPORTED = frozenset({
    "PersistentVolume",
    "EndpointSlice", "LimitRange", "ResourceQuota",
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
    for version, schema, k8s_type in info.by_version:
        if version == api_version:
            return replace(info, schema=schema, k8s_type=k8s_type), "", ""
    return info, "", ""
