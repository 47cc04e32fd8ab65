"""Per-object metrics in kube-state-metrics' names and labels, and the service's own gauges.

Served by the service's /metrics (reconciler.service.metrics) next to its
counters: a `KubeState` collector asks its source for a `ClusterView` at each
scrape (the composition root reads the controllers' cache and the store), so
nothing keeps these series up to date between scrapes and a deleted object's
series disappear with it. Names and labels follow kube-state-metrics
(docs/metrics/workload/*.md there) so existing dashboards and alerts
(`kube_pod_container_status_restarts_total`, `kube_deployment_status_replicas_available`,
`kube_node_status_condition{condition="Ready",status="true"}`) work unchanged;
the `reconciler_applied_revision_*` series say what was applied last and how long ago.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.types import JSON
from reconciler.store.records import ObjectRecord, RevisionRecord

if TYPE_CHECKING:
    from reconciler.control.cache import Cache
    from reconciler.store import Store

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
POD = ["namespace", "pod", "uid"]
CONTAINER = [*POD, "container"]


@dataclass(frozen=True)
class ClusterView:
    """What one scrape reports: pods, workload objects by kind, nodes, the applied revision."""

    pods: Sequence[PodRecord] = ()
    objects: Mapping[str, Sequence[ObjectRecord]] = field(default_factory=dict)
    nodes: Sequence[NodeRecord] = ()
    revision: RevisionRecord | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def pod_families(pods: Sequence[PodRecord]) -> list[Metric]:
    phase = _gauge("kube_pod_status_phase", "The pods' current phase.", [*POD, "phase"])
    ready = _gauge("kube_pod_status_ready", "Whether the pod is ready to serve requests.",
                   [*POD, "condition"])
    info = _gauge("kube_pod_info", "Information about the pod.",
                  [*POD, "node", "pod_ip", "host_ip", "created_by_kind", "created_by_name"])
    restarts = CounterMetricFamily("kube_pod_container_status_restarts",
                                   "Restarts of the container.", labels=CONTAINER)
    c_ready = _gauge("kube_pod_container_status_ready", "Whether the container is ready.",
                     CONTAINER)
    running = _gauge("kube_pod_container_status_running", "Whether the container is running.",
                     CONTAINER)
    waiting = _gauge("kube_pod_container_status_waiting_reason",
                     "Why the container is waiting.", [*CONTAINER, "reason"])
    for p in pods:
        key = [p.namespace, p.name, p.uid]
        for ph in PHASES:
            phase.add_metric([*key, ph], 1.0 if p.phase == ph else 0.0)
        for cond in ("true", "false"):
            ready.add_metric([*key, cond], 1.0 if p.ready == (cond == "true") else 0.0)
        owner = p.owner
        info.add_metric([*key, p.node_name, p.pod_ip, p.host_ip,
                         owner.kind if owner else "<none>", owner.name if owner else "<none>"], 1)
        for c in p.containers:
            ckey = [*key, c.name]
            restarts.add_metric(ckey, c.restart_count)
            c_ready.add_metric(ckey, 1.0 if c.ready else 0.0)
            running.add_metric(ckey, 1.0 if c.state == "running" else 0.0)
            if c.state == "waiting" and c.reason:
                waiting.add_metric([*ckey, c.reason], 1)
    return [phase, ready, info, restarts, c_ready, running, waiting]


# kind -> (metric prefix, label of the object's name, [(suffix, where in the object, doc)])
# A path is "spec.x" or "status.x"; a missing status field counts 0, as KSM reports it.
WORKLOADS: dict[str, tuple[str, str, list[tuple[str, str, str]]]] = {
    "Deployment": ("kube_deployment", "deployment", [
        ("spec_replicas", "spec.replicas", "Desired pods."),
        ("status_replicas", "status.replicas", "Pods targeted by the deployment."),
        ("status_replicas_available", "status.availableReplicas", "Available pods."),
        ("status_replicas_ready", "status.readyReplicas", "Ready pods."),
        ("status_replicas_updated", "status.updatedReplicas", "Pods of the newest template."),
        ("status_replicas_unavailable", "status.unavailableReplicas", "Unavailable pods."),
    ]),
    "ReplicaSet": ("kube_replicaset", "replicaset", [
        ("spec_replicas", "spec.replicas", "Desired pods."),
        ("status_replicas", "status.replicas", "Pods the replica set has."),
        ("status_ready_replicas", "status.readyReplicas", "Ready pods."),
    ]),
    "ReplicationController": ("kube_replicationcontroller", "replicationcontroller", [
        ("spec_replicas", "spec.replicas", "Desired pods."),
        ("status_replicas", "status.replicas", "Pods the controller has."),
        ("status_ready_replicas", "status.readyReplicas", "Ready pods."),
        ("status_available_replicas", "status.availableReplicas", "Available pods."),
    ]),
    "StatefulSet": ("kube_statefulset", "statefulset", [
        ("replicas", "spec.replicas", "Desired pods."),
        ("status_replicas", "status.replicas", "Pods the stateful set has."),
        ("status_replicas_ready", "status.readyReplicas", "Ready pods."),
    ]),
    "DaemonSet": ("kube_daemonset", "daemonset", [
        ("status_desired_number_scheduled", "status.desiredNumberScheduled",
         "Nodes that should run the daemon pod."),
        ("status_current_number_scheduled", "status.currentNumberScheduled",
         "Nodes running at least one daemon pod."),
        ("status_number_ready", "status.numberReady", "Nodes with a ready daemon pod."),
        ("status_number_available", "status.numberAvailable",
         "Nodes with an available daemon pod."),
    ]),
}


def _field(o: ObjectRecord, path: str) -> float:
    where, _, name = path.partition(".")
    source: JSON = (o.body.get("spec") or {}) if where == "spec" else (o.status or {})
    default = 1 if path == "spec.replicas" else 0  # Kubernetes' default replicas
    value = source.get(name, default)
    return float(value) if isinstance(value, int | float) else 0.0


def workload_families(objects: Mapping[str, Sequence[ObjectRecord]]) -> list[Metric]:
    out: list[Metric] = []
    for kind, (prefix, label, fields) in WORKLOADS.items():
        records = objects.get(kind) or ()
        for suffix, path, doc in fields:
            family = _gauge(f"{prefix}_{suffix}", doc, ["namespace", label])
            for o in records:
                family.add_metric([o.key.namespace, o.key.name], _field(o, path))
            out.append(family)
    return out


def node_families(nodes: Sequence[NodeRecord]) -> list[Metric]:
    condition = _gauge("kube_node_status_condition", "The condition of a node.",
                       ["node", "condition", "status"])
    unschedulable = _gauge("kube_node_spec_unschedulable", "Whether a node takes new pods.",
                           ["node"])
    capacity = _gauge("kube_node_status_capacity", "The node's capacity.",
                      ["node", "resource", "unit"])
    for n in nodes:
        # Ready "unknown" until a first heartbeat, as the node lifecycle controller says.
        ready = "unknown" if n.last_heartbeat is None and not n.ready else str(n.ready).lower()
        conds = [("Ready", ready)] + [(c.type, str(c.status).lower()) for c in n.conditions]
        for ctype, status in conds:
            for s in ("true", "false", "unknown"):
                condition.add_metric([n.name, ctype, s], 1.0 if status == s else 0.0)
        unschedulable.add_metric([n.name], 1.0 if n.unschedulable else 0.0)
        capacity.add_metric([n.name, "cpu", "core"], n.capacity.cpu_milli / 1000)
        capacity.add_metric([n.name, "memory", "byte"], n.capacity.memory)
    return [condition, unschedulable, capacity]


def revision_families(revision: RevisionRecord | None, now: datetime) -> list[Metric]:
    info = _gauge("reconciler_applied_revision_info",
                  "The desired-state revision applied last (git SHA or folder hash).",
                  ["revision", "source"])
    stamp = _gauge("reconciler_applied_revision_timestamp_seconds",
                   "When the last revision was applied (Unix time).", [])
    age = _gauge("reconciler_applied_revision_age_seconds",
                 "Seconds since the last revision was applied.", [])
    if revision is not None:
        applied = revision.applied_at if revision.applied_at.tzinfo else \
            revision.applied_at.replace(tzinfo=UTC)
        info.add_metric([revision.revision, revision.source], 1)
        stamp.add_metric([], applied.timestamp())
        age.add_metric([], max(0.0, (now - applied).total_seconds()))
    return [info, stamp, age]


def families(view: ClusterView) -> list[Metric]:
    """Every family of one view: pure, so the names and labels are unit-tested alone."""
    return [*pod_families(view.pods), *workload_families(view.objects),
            *node_families(view.nodes), *revision_families(view.revision, view.now)]


def view_of(store: Store, cache: Cache | None) -> ClusterView:
    """The view of a running service: pods and workloads from its cache once synced (a scrape
    then costs no query for them), nodes and the revision from the store."""
    synced = cache if cache is not None and cache.synced else None
    # The cache's own records, not copies: the families only read them, and copying every
    # workload's body was most of a scrape's CPU (450 RCs: about 40 ms a scrape).
    pods = synced.pods(copy=False) if synced else store.list_pods()
    objects = {kind: synced.objects(kind, copy=False) if synced else store.objects(kind)
               for kind in WORKLOADS}
    return ClusterView(pods, objects, store.list_nodes(), store.revision())


class KubeState(Collector):
    """Collects `families(source())` at each scrape; a failing source yields nothing."""

    def __init__(self, source: Callable[[], ClusterView]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        try:
            view = self.source()
        except Exception:
            # A store hiccup must not fail the scrape of the service's own counters.
            return
        yield from families(view)
