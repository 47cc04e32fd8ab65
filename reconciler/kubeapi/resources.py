"""The resource table: every kind the API serves, with the names discovery gives kubectl.

Read by `app.py` (routing, discovery), `objects.py` (which `Listing` of
`reconciler.views.listings` loads a kind) and the other modules of the package.
A `Resource` is one REST collection of one group/version: kubectl resolves
`deploy`, `deployment.apps` or `deployments` through these names, `get all`
through the "all" category, and decides from `verbs` what it may ask.
Paths: `/api/v1/...` for the core group (""), `/apis/<group>/<version>/...`
for the others.
"""

from __future__ import annotations

from dataclasses import dataclass

# Everything a client may ask of a collection; writes.py (issue 22's GitOps writes) turns
# the writing verbs into source changes or refuses them with a Status saying why.
READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One REST collection: `kind` in `group`/`version`, served as `plural`."""

    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "log", ...

    @property
    def group_version(self) -> str:
        """"v1" or "apps/v1": what objects carry as apiVersion."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def base_path(self) -> str:
        """"/api/v1" or "/apis/apps/v1"."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


def _r(kind: str, group: str, version: str, plural: str, *, short: tuple[str, ...] = (),
       namespaced: bool = True, all_: bool = False, sub: tuple[str, ...] = ("status",),
       verbs: tuple[str, ...] = ALL_VERBS) -> Resource:
    return Resource(kind, group, version, plural, kind.lower(), namespaced, short, verbs,
                    ("all",) if all_ else (), sub)


RESOURCES: tuple[Resource, ...] = (
    # The core group, /api/v1.
    _r("Pod", "", "v1", "pods", short=("po",), all_=True,
       sub=("status", "log", "exec", "attach", "portforward")),
    _r("Service", "", "v1", "services", short=("svc",), all_=True),
    _r("Endpoints", "", "v1", "endpoints", short=("ep",), sub=()),
    _r("Event", "", "v1", "events", short=("ev",), sub=()),
    _r("Namespace", "", "v1", "namespaces", short=("ns",), namespaced=False),
    _r("Node", "", "v1", "nodes", short=("no",), namespaced=False),
    _r("ConfigMap", "", "v1", "configmaps", short=("cm",), sub=()),
    _r("Secret", "", "v1", "secrets", sub=()),
    _r("PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", short=("pvc",)),
    _r("ReplicationController", "", "v1", "replicationcontrollers", short=("rc",), all_=True,
       sub=("status", "scale")),
    _r("ServiceAccount", "", "v1", "serviceaccounts", short=("sa",), sub=()),
    _r("ComponentStatus", "", "v1", "componentstatuses", short=("cs",), namespaced=False,
       sub=(), verbs=("get", "list")),
    # apps/v1
    _r("Deployment", "apps", "v1", "deployments", short=("deploy",), all_=True,
       sub=("status", "scale")),
    _r("ReplicaSet", "apps", "v1", "replicasets", short=("rs",), all_=True,
       sub=("status", "scale")),
    _r("StatefulSet", "apps", "v1", "statefulsets", short=("sts",), all_=True,
       sub=("status", "scale")),
    _r("DaemonSet", "apps", "v1", "daemonsets", short=("ds",), all_=True),
    # batch/v1
    _r("Job", "batch", "v1", "jobs", all_=True),
    _r("CronJob", "batch", "v1", "cronjobs", short=("cj",), all_=True),
    # Each service's endpoints, as the EndpointSlice controller's (describe service reads them).
    _r("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", sub=(), verbs=READ_VERBS),
    # Each node's heartbeat, as the kubelet's Lease (read by `kubectl describe node`).
    _r("Lease", "coordination.k8s.io", "v1", "leases", sub=(), verbs=READ_VERBS),
    # Kinds the store records as declared (no controller acts on them).
    _r("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers",
       short=("hpa",), all_=True),
    _r("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", short=("pdb",)),
    _r("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", short=("netpol",),
       sub=()),
    _r("Ingress", "networking.k8s.io", "v1", "ingresses", short=("ing",)),
    _r("StorageClass", "storage.k8s.io", "v1", "storageclasses", short=("sc",),
       namespaced=False, sub=()),
    _r("Role", "rbac.authorization.k8s.io", "v1", "roles", sub=()),
    _r("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", sub=()),
    _r("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False,
       sub=()),
    _r("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings",
       namespaced=False, sub=()),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {r.kind: r for r in RESOURCES}


def resource_for(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at /api(s)/<group>/<version>/<plural>, or None."""
    return _BY_PATH.get((group, version, plural))


def resource_of_kind(kind: str) -> Resource | None:
    """The resource serving `kind` (each kind is served in one group/version)."""
    return _BY_KIND.get(kind)


def group_versions() -> dict[str, list[str]]:
    """Every group (not the core one) and its versions, in table order."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in out.setdefault(r.group, []):
            out[r.group].append(r.version)
    return out


def in_group_version(group: str, version: str) -> list[Resource]:
    """The resources of one group/version (empty: no such group/version)."""
    return [r for r in RESOURCES if r.group == group and r.version == version]


def api_resource(r: Resource) -> list[dict[str, object]]:
    """The APIResourceList entries of `r`: itself, then one per subresource."""
    main: dict[str, object] = {
        "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
        "kind": r.kind, "verbs": list(r.verbs),
    }
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.categories:
        main["categories"] = list(r.categories)
    out = [main]
    for sub in r.subresources:
        kind, verbs = r.kind, ["get", "patch", "update"]
        if sub == "scale":
            kind = "Scale"
        elif sub == "log":
            kind, verbs = "Pod", ["get"]
        elif sub in ("exec", "attach", "portforward"):
            kind, verbs = {"exec": "PodExecOptions", "attach": "PodAttachOptions",
                           "portforward": "PodPortForwardOptions"}[sub], ["create", "get"]
        entry: dict[str, object] = {"name": f"{r.plural}/{sub}", "singularName": "",
                                    "namespaced": r.namespaced, "kind": kind, "verbs": verbs}
        if sub == "scale":
            entry.update(group="autoscaling", version="v1")
        out.append(entry)
    return out
