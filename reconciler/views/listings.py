"""The resources `get` lists: per kind, its headers and a loader from store records to rows.

Part of the read side's presentation (`reconciler.views`), shared by
`reconciler get`, `describe` and the web dashboard (`reconciler.ui`): each
resource is a `Listing` (headers, wide headers, a loader turning `ReadStore`
records into `Row`s with their table cells and Kubernetes JSON);
`reconciler.views.output` holds the cell rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from reconciler.api import k8s
from reconciler.api.records import ClaimRecord
from reconciler.api.selectors import LabelPredicate, from_label_selector
from reconciler.api.types import CLUSTER_SCOPED_KINDS, JSON, RECORDED_RESOURCES
from reconciler.store.reader import ReadStore
from reconciler.store.records import ComponentRecord, ObjectRecord
from reconciler.views import configviews, output
from reconciler.views.cronjobs import HEADERS as CRONJOB_HEADERS
from reconciler.views.cronjobs import WIDE as CRONJOB_WIDE
from reconciler.views.cronjobs import cronjob_cells
from reconciler.views.jobs import HEADERS as JOB_HEADERS
from reconciler.views.jobs import WIDE as JOB_WIDE
from reconciler.views.jobs import job_cells


@dataclass
class Row:
    """One object as `get` prints it."""

    namespace: str
    name: str
    cells: list[str]  # the columns after NAME (and before the wide ones)
    build: Callable[[], JSON]  # its Kubernetes JSON, built only for -o json|yaml
    wide: list[str] = field(default_factory=list)
    stale: bool = False


@dataclass(frozen=True)
class Query:
    """What the user asked for: namespace (None: all), label predicate, a clock."""

    namespace: str | None
    selector: LabelPredicate | None
    now: datetime


@dataclass(frozen=True)
class Listing:
    kind: str
    resource: str  # kubectl's plural lowercase name: pods, services, ...
    short: str  # the name prefix of -o name and `get all`: pod, service, ...
    headers: tuple[str, ...]
    wide: tuple[str, ...]
    load: Callable[[ReadStore, Query], list[Row]]
    namespaced: bool = True


def _pods(store: ReadStore, q: Query) -> list[Row]:
    stale = _stale_names(store, "Pod")
    rows = []
    for pod in store.list_pods(q.namespace, q.selector):
        rows.append(
            Row(
                pod.namespace,
                pod.name,
                [
                    output.pod_ready(pod),
                    output.pod_status(pod),
                    str(pod.restarts),
                    output.age(pod.created_at, q.now),
                ],
                partial(k8s.pod_to_k8s, pod),
                [pod.pod_ip or output.NONE, pod.node_name or output.NONE],
                (pod.namespace, pod.name) in stale,
            )
        )
    return rows


def _stale_names(store: ReadStore, kind: str) -> set[tuple[str, str]]:
    return {(o.key.namespace, o.key.name) for o in store.objects(kind) if o.stale}


def _objects(store: ReadStore, kind: str, q: Query) -> list[ObjectRecord]:
    records = store.objects(kind, q.namespace)
    if q.selector is not None:
        pred = q.selector
        records = [o for o in records if pred(o.body.get("metadata", {}).get("labels") or {})]
    return records


def _object_json(o: ObjectRecord, extra: Callable[[JSON], None] | None = None) -> JSON:
    out = k8s.object_to_k8s(
        o.body, uid=o.uid, created_at=o.created_at, generation=o.generation, status=o.status
    )
    if o.revision and o.revision != k8s.FOLDER_REVISION:
        out["metadata"].setdefault("annotations", {})[k8s.REVISION_ANNOTATION] = o.revision
    if extra is not None:
        extra(out)
    return out


def _selector_text(selector: JSON) -> str:
    """A set-based selector (RS, Deployment) or an RC's label map, as kubectl prints it."""
    if "matchLabels" in selector or "matchExpressions" in selector:
        return str(from_label_selector(selector))
    return output.labels_text(selector)


def _deployments(store: ReadStore, q: Query) -> list[Row]:
    """kubectl's Deployment columns: READY is ready / desired; UP-TO-DATE, AVAILABLE."""
    rows = []
    for o in _objects(store, "Deployment", q):
        spec, status = o.body.get("spec") or {}, o.status or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        rows.append(Row(
            o.key.namespace, o.key.name,
            [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
             str(status.get("updatedReplicas", 0)), str(status.get("availableReplicas", 0)),
             output.age(o.created_at, q.now)],
            partial(_object_json, o),
            [",".join(c.get("name", "") for c in containers),
             ",".join(c.get("image", "") for c in containers),
             _selector_text(spec.get("selector") or {})],
            o.stale,
        ))
    return rows


def _replicated(kind: str) -> Callable[[ReadStore, Query], list[Row]]:
    def load(store: ReadStore, q: Query) -> list[Row]:
        rows = []
        for o in _objects(store, kind, q):
            spec = o.body.get("spec") or {}
            status = o.status or {}
            template = (spec.get("template") or {}).get("spec") or {}
            containers = template.get("containers") or []
            selector_text = _selector_text(spec.get("selector") or {})
            rows.append(
                Row(
                    o.key.namespace,
                    o.key.name,
                    [
                        str(spec.get("replicas", 1)),
                        str(status.get("replicas", 0)),
                        str(status.get("readyReplicas", 0)),
                        output.age(o.created_at, q.now),
                    ],
                    partial(_object_json, o),
                    [
                        ",".join(c.get("name", "") for c in containers),
                        ",".join(c.get("image", "") for c in containers),
                        selector_text,
                    ],
                    o.stale,
                )
            )
        return rows

    return load


def service_spec(store: ReadStore, o: ObjectRecord) -> JSON:
    """The spec with its cluster IP and node ports filled in, as the API server shows it.

    The service controller writes them into the status (`clusterIP`, `ports`);
    the store's allocations (slot: port name, else its index) are the fallback.
    """
    spec = dict(o.body.get("spec") or {})
    status = o.status or {}
    if status.get("clusterIP"):
        spec["clusterIP"] = status["clusterIP"]
    if status.get("ports"):
        spec["ports"] = status["ports"]
    if spec.get("clusterIP") or spec.get("type") == "ExternalName":
        return spec
    held = store.allocations(f"{o.key.namespace}/{o.key.name}")
    if "cluster-ip" in held:
        spec["clusterIP"] = held["cluster-ip"]
    ports = []
    for i, p in enumerate(spec.get("ports") or []):
        p = dict(p)
        slot = str(p.get("name") or i)
        if not p.get("nodePort") and f"node-port/{slot}" in held:
            p["nodePort"] = int(held[f"node-port/{slot}"])
        ports.append(p)
    if ports:
        spec["ports"] = ports
    return spec


def _services(store: ReadStore, q: Query) -> list[Row]:
    rows = []
    for o in _objects(store, "Service", q):
        spec = service_spec(store, o)

        def extra(out: JSON, spec: JSON = spec) -> None:
            out["spec"] = spec

        rows.append(
            Row(
                o.key.namespace,
                o.key.name,
                [
                    spec.get("type", "ClusterIP"),
                    spec.get("clusterIP") or output.NONE,
                    output.service_external_ip(spec),
                    output.service_ports(spec),
                    output.age(o.created_at, q.now),
                ],
                partial(_object_json, o, extra),
                [output.labels_text(spec.get("selector") or {})],
                o.stale,
            )
        )
    return rows


def _endpoints(store: ReadStore, q: Query) -> list[Row]:
    found = {(e.namespace, e.name): e for e in store.list_endpoints(q.namespace)}
    declared = {(o.key.namespace, o.key.name): o for o in store.objects("Endpoints", q.namespace)}
    labels = {
        (o.key.namespace, o.key.name): (o.body.get("metadata", {}).get("labels") or {})
        for kind in ("Service", "Endpoints")
        for o in store.objects(kind, q.namespace)
    }
    rows = []
    for ns, name in sorted(set(found) | set(declared)):
        if q.selector is not None and not q.selector(labels.get((ns, name), {})):
            continue
        e = found.get((ns, name))
        if e is not None:
            subsets, created = e.subsets, e.created_at
        else:
            o = declared[(ns, name)]
            subsets, created = o.body.get("subsets") or [], o.created_at
        rows.append(
            Row(
                ns,
                name,
                [output.format_endpoints(subsets), output.age(created, q.now)],
                partial(k8s.endpoints_to_k8s, ns, name, subsets, created),
            )
        )
    return rows


def _nodes(store: ReadStore, q: Query) -> list[Row]:
    rows = []
    for n in store.list_nodes():
        if q.selector is not None and not q.selector(n.labels):
            continue
        rows.append(
            Row(
                "",
                n.name,
                [
                    # Conditions besides Ready that hold (ForeignContainers) follow the
                    # status, as SchedulingDisabled does: a user sees them in the list.
                    output.node_status(n) + "".join(f",{c.type}" for c in n.conditions
                                                    if c.status),
                    output.NONE,
                    output.age(n.created_at, q.now),
                    n.engine_version or output.NONE,
                ],
                partial(k8s.node_to_k8s, n),
                [
                    n.address or output.NONE,
                    output.NONE,
                    n.os_image or output.NONE,
                    n.kernel_version or output.NONE,
                    f"docker://{n.engine_version}" if n.engine_version else output.NONE,
                    # Pods placed here (not finished) of the allocatable count (max-pods
                    # within the addresses of the host's pod network).
                    f"{_live_pods(store, n.name)}/{n.allocatable_pods}",
                ],
            )
        )
    return rows


def _live_pods(store: ReadStore, node: str) -> int:
    return sum(1 for p in store.list_pods(node=node) if p.phase not in ("Succeeded", "Failed"))


# kubectl's short names of access modes, as its PVC printer shows them.
_ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                 "ReadWriteOncePod": "RWOP"}
# Claims are Docker named volumes on one host; "local" names that one kind of storage.
STORAGE_CLASS = "local"
SELECTED_NODE = "volume.kubernetes.io/selected-node"


def _claim_phase(c: ClaimRecord) -> str:
    if c.deletion_timestamp is not None:
        return "Terminating"
    return "Bound" if c.node_name else "Pending"


def claim_to_k8s(c: ClaimRecord) -> JSON:
    """A v1 PersistentVolumeClaim; its node is the selected-node annotation, as in Kubernetes."""
    metadata: JSON = {"name": c.name, "namespace": c.namespace, "uid": c.uid,
                      "labels": dict(c.labels), "creationTimestamp": k8s.timestamp(c.created_at)}
    if c.node_name:
        metadata["annotations"] = {SELECTED_NODE: c.node_name}
    if c.deletion_timestamp is not None:
        metadata["deletionTimestamp"] = k8s.timestamp(c.deletion_timestamp)
    if c.owner is not None:
        metadata["ownerReferences"] = [{
            "apiVersion": c.owner.api_version, "kind": c.owner.kind, "name": c.owner.name,
            "uid": c.owner.uid, "controller": c.owner.controller, "blockOwnerDeletion": True}]
    bound = bool(c.node_name)
    status: JSON = {"phase": "Bound" if bound else "Pending"}
    if bound:
        status["accessModes"] = list(c.access_modes)
        status["capacity"] = {"storage": c.storage} if c.storage else {}
    spec: JSON = {"accessModes": list(c.access_modes), "storageClassName": STORAGE_CLASS,
                  "volumeMode": "Filesystem", "volumeName": c.volume}
    if c.storage:
        spec["resources"] = {"requests": {"storage": c.storage}}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
            "spec": spec, "status": status}


def _claims(store: ReadStore, q: Query) -> list[Row]:
    rows = []
    for c in store.claims(q.namespace):
        if q.selector is not None and not q.selector(c.labels):
            continue
        bound = bool(c.node_name)
        modes = ",".join(_ACCESS_MODES.get(m, m) for m in c.access_modes)
        cells = [_claim_phase(c), c.volume if bound else "", c.storage if bound else "",
                 modes if bound else "", STORAGE_CLASS, output.age(c.created_at, q.now)]
        rows.append(Row(c.namespace, c.name, cells, partial(claim_to_k8s, c), ["Filesystem"]))
    return rows


def _events(store: ReadStore, q: Query) -> list[Row]:
    rows = []
    events = store.list_events(q.namespace)
    if q.namespace is not None:
        # Events of cluster-scoped objects (nodes, revisions) belong to no namespace;
        # show them with any namespace's, as kubectl files node events under default.
        events = sorted(events + store.list_events(""), key=lambda e: e.last_seen or q.now)
    for ev in events:
        obj = f"{ev.kind.lower()}/{ev.name}"
        rows.append(
            Row(
                ev.namespace,
                "",
                [output.age(ev.last_seen, q.now), ev.type, ev.reason, obj, ev.message],
                partial(k8s.event_to_k8s, ev),
                [
                    ev.source + (f", {ev.host}" if ev.host else ""),
                    str(ev.count),
                    output.age(ev.first_seen, q.now),
                ],
            )
        )
    return rows


# The service publishes every few seconds; older than this, it is not running.
COMPONENTS_FRESH = timedelta(seconds=30)


def _components(store: ReadStore, q: Query) -> list[Row]:
    rows = []
    for c in store.list_components():
        fresh = q.now - c.updated_at <= COMPONENTS_FRESH
        healthy = c.healthy and fresh
        ago = output.age(c.updated_at, q.now)
        error = "" if fresh else f"service not running (last report {ago} ago)"
        status = "Healthy" if healthy else "Unhealthy"
        message = c.message if healthy or not fresh else ""
        error = error or ("" if healthy else c.message)

        def build(c: ComponentRecord = c, healthy: bool = healthy, message: str = message,
                  error: str = error) -> JSON:
            return {
                "apiVersion": "v1", "kind": "ComponentStatus", "metadata": {"name": c.name},
                "conditions": [{"type": "Healthy", "status": "True" if healthy else "False",
                                "message": message, "error": error}],
            }

        rows.append(Row("", c.name, [status, message, error], build))
    return rows


def _statefulsets(store: ReadStore, q: Query) -> list[Row]:
    """kubectl's StatefulSet columns: READY is ready replicas / desired replicas."""
    rows = []
    for o in _objects(store, "StatefulSet", q):
        spec = o.body.get("spec") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        ready = f"{(o.status or {}).get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
        rows.append(Row(
            o.key.namespace, o.key.name, [ready, output.age(o.created_at, q.now)],
            partial(_object_json, o),
            [",".join(c.get("name", "") for c in containers),
             ",".join(c.get("image", "") for c in containers)],
            o.stale,
        ))
    return rows


def _daemonsets(store: ReadStore, q: Query) -> list[Row]:
    """kubectl's DaemonSet columns, from the status the DaemonSet controller writes."""
    rows = []
    for o in _objects(store, "DaemonSet", q):
        spec, st = o.body.get("spec") or {}, o.status or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        containers = pod.get("containers") or []
        node_selector = ",".join(f"{k}={v}" for k, v in (pod.get("nodeSelector") or {}).items())
        selector = spec.get("selector") or {}
        match = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
        rows.append(Row(
            o.key.namespace, o.key.name,
            [str(st.get(f, 0)) for f in ("desiredNumberScheduled", "currentNumberScheduled",
                                         "numberReady", "updatedNumberScheduled",
                                         "numberAvailable")]
            + [node_selector or "<none>", output.age(o.created_at, q.now)],
            partial(_object_json, o),
            [",".join(c.get("name", "") for c in containers),
             ",".join(c.get("image", "") for c in containers), match or "<none>"],
            o.stale,
        ))
    return rows


def _jobs(store: ReadStore, q: Query) -> list[Row]:
    """kubectl's Job columns (views/jobs.py), from the status the Job controller writes."""
    rows = []
    for o in _objects(store, "Job", q):
        cells, wide = job_cells(o, q.now)
        rows.append(Row(o.key.namespace, o.key.name, cells, partial(_object_json, o), wide,
                        o.stale))
    return rows


def _cronjobs(store: ReadStore, q: Query) -> list[Row]:
    """kubectl's CronJob columns (views/cronjobs.py), from the CronJob controller's status."""
    rows = []
    for o in _objects(store, "CronJob", q):
        cells, wide = cronjob_cells(o, q.now)
        rows.append(Row(o.key.namespace, o.key.name, cells, partial(_object_json, o), wide,
                        o.stale))
    return rows


def _config(kind: str) -> Callable[[ReadStore, Query], list[Row]]:
    def load(store: ReadStore, q: Query) -> list[Row]:
        return [Row(ns, name, cells, build, stale=stale) for ns, name, cells, build, stale
                in configviews.rows(store, kind, q.namespace, q.selector, q.now)]

    return load


def _generic(kind: str) -> Callable[[ReadStore, Query], list[Row]]:
    def load(store: ReadStore, q: Query) -> list[Row]:
        return [
            Row(
                o.key.namespace,
                o.key.name,
                [output.age(o.created_at, q.now)],
                partial(_object_json, o),
                stale=o.stale,
            )
            for o in _objects(store, kind, q)
        ]

    return load


LISTINGS: dict[str, Listing] = {
    "Pod": Listing(
        "Pod", "pods", "pod", ("NAME", "READY", "STATUS", "RESTARTS", "AGE"), ("IP", "NODE"), _pods
    ),
    "ReplicationController": Listing(
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        ("NAME", "DESIRED", "CURRENT", "READY", "AGE"),
        ("CONTAINERS", "IMAGES", "SELECTOR"),
        _replicated("ReplicationController"),
    ),
    "ReplicaSet": Listing(
        "ReplicaSet",
        "replicasets",
        "replicaset.apps",
        ("NAME", "DESIRED", "CURRENT", "READY", "AGE"),
        ("CONTAINERS", "IMAGES", "SELECTOR"),
        _replicated("ReplicaSet"),
    ),
    "Service": Listing(
        "Service",
        "services",
        "service",
        ("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"),
        ("SELECTOR",),
        _services,
    ),
    "Endpoints": Listing(
        "Endpoints", "endpoints", "endpoints", ("NAME", "ENDPOINTS", "AGE"), (), _endpoints
    ),
    "Node": Listing(
        "Node",
        "nodes",
        "node",
        ("NAME", "STATUS", "ROLES", "AGE", "VERSION"),
        ("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME",
         "PODS"),
        _nodes,
        namespaced=False,
    ),
    "Event": Listing(
        "Event",
        "events",
        "event",
        ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"),
        ("SOURCE", "COUNT", "FIRST SEEN"),
        _events,
    ),
    "Deployment": Listing(
        "Deployment",
        "deployments",
        "deployment.apps",
        ("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"),
        ("CONTAINERS", "IMAGES", "SELECTOR"),
        _deployments,
    ),
    "StatefulSet": Listing(
        "StatefulSet",
        "statefulsets",
        "statefulset.apps",
        ("NAME", "READY", "AGE"),
        ("CONTAINERS", "IMAGES"),
        _statefulsets,
    ),
    "DaemonSet": Listing(
        "DaemonSet",
        "daemonsets",
        "daemonset.apps",
        ("NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR",
         "AGE"),
        ("CONTAINERS", "IMAGES", "SELECTOR"),
        _daemonsets,
    ),
    "Job": Listing("Job", "jobs", "job.batch", JOB_HEADERS, JOB_WIDE, _jobs),
    "CronJob": Listing("CronJob", "cronjobs", "cronjob.batch", CRONJOB_HEADERS, CRONJOB_WIDE,
                       _cronjobs),
    "PersistentVolumeClaim": Listing(
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        ("NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"),
        ("VOLUMEMODE",),
        _claims,
    ),
    "ConfigMap": Listing("ConfigMap", "configmaps", "configmap", ("NAME", "DATA", "AGE"), (),
                         _config("ConfigMap")),
    "Secret": Listing("Secret", "secrets", "secret", ("NAME", "TYPE", "DATA", "AGE"), (),
                      _config("Secret")),
    "ComponentStatus": Listing(
        "ComponentStatus",
        "componentstatuses",
        "componentstatus",
        ("NAME", "STATUS", "MESSAGE", "ERROR"),
        (),
        _components,
        namespaced=False,
    ),
    "Namespace": Listing(
        "Namespace",
        "namespaces",
        "namespace",
        ("NAME", "AGE"),
        (),
        _generic("Namespace"),
        namespaced=False,
    ),
}
for _kind, _plural, _ in RECORDED_RESOURCES:
    LISTINGS.setdefault(_kind, Listing(_kind, _plural, _kind.lower(), ("NAME", "AGE"), (),
                                       _generic(_kind), namespaced=_kind not in
                                       CLUSTER_SCOPED_KINDS))
# `get all`, as kubectl's "all" category: workloads and services.
ALL = ("Pod", "Service", "DaemonSet", "ReplicationController", "ReplicaSet", "Deployment",
       "StatefulSet", "Job", "CronJob")
