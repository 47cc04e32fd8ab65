"""plan_daemonset: one pod per eligible node, rolled node by node, as plain data.

Called by the DaemonSet controller (`reconciler.control.daemonsets`) on each sync
of a DaemonSet key with the registered nodes and the set's pods (owned, and
orphans its selector matches); it applies the returned `DaemonSetPlan` (adopt,
release, create one pod per listed node, delete, write status). Which nodes are
eligible is `daemonset_nodes.should_run`; the RollingUpdate step is
`daemonset_update.rolling_update`. Mirrors pkg/controller/daemon: manage() and
podsShouldBeOnNode() (create where missing; delete where unwanted, failed,
succeeded or surplus), the deletion of pods bound to nodes that do not exist,
and updateDaemonSetStatus(). As the controller's expectations would, a sync
that creates or deletes leaves the rolling update to the next sync. A pod
being deleted still holds its node: no new pod goes there until it is gone,
so a node never runs two pods of a set without surge.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.types import JSON
from reconciler.planning.daemonset_nodes import should_run
from reconciler.planning.daemonset_spec import (
    DaemonSetSpec,
    pod_order,
    surging,
    target_node,
    updated,
)
from reconciler.planning.daemonset_update import rolling_update
from reconciler.planning.replicas import is_available

# Kubernetes' BurstReplicas for DaemonSets: at most this many creates per sync.
BURST_REPLICAS = 250
FAILED_BACKOFF_RECHECK = timedelta(seconds=1)


@dataclass(frozen=True)
class DaemonSetStatus:
    """status of a DaemonSet, Kubernetes' field names."""

    desired: int = 0
    current: int = 0
    misscheduled: int = 0
    ready: int = 0
    updated: int = 0
    available: int = 0
    observed_generation: int = 0

    def to_json(self) -> JSON:
        return {
            "currentNumberScheduled": self.current,
            "numberMisscheduled": self.misscheduled,
            "desiredNumberScheduled": self.desired,
            "numberReady": self.ready,
            "observedGeneration": self.observed_generation,
            "updatedNumberScheduled": self.updated,
            "numberAvailable": self.available,
            "numberUnavailable": self.desired - self.available,
        }


@dataclass
class DaemonSetPlan:
    """What the controller must do now."""

    adopt: list[PodRecord] = field(default_factory=list)
    release: list[PodRecord] = field(default_factory=list)
    create: list[str] = field(default_factory=list)  # node names, one new pod each
    delete: list[PodRecord] = field(default_factory=list)
    failed: list[PodRecord] = field(default_factory=list)  # of `delete`: failed daemon pods
    status: DaemonSetStatus = field(default_factory=DaemonSetStatus)
    requeue_after: timedelta | None = None


def claim(ds: DaemonSetSpec, pods: Sequence[PodRecord]) -> tuple[
        list[PodRecord], list[PodRecord], list[PodRecord]]:
    """ClaimPods: (the set's pods after adoption, orphans to adopt, owned pods to release)."""
    mine: list[PodRecord] = []
    adopt: list[PodRecord] = []
    release: list[PodRecord] = []
    for pod in pods:
        owned = pod.owner is not None and pod.owner.uid == ds.uid
        matches = ds.selector.matches(pod.labels)
        if owned and matches:
            mine.append(pod)
        elif owned:
            release.append(pod)
        elif pod.owner is None and matches and pod.deletion_timestamp is None:
            adopt.append(pod)
            mine.append(pod)
    return mine, adopt, release


def per_node(pods: Sequence[PodRecord]) -> dict[str, list[PodRecord]]:
    """getNodesToDaemonPods: the set's pods by target node, oldest first."""
    out: dict[str, list[PodRecord]] = {}
    for pod in sorted(pods, key=pod_order):
        out.setdefault(target_node(pod), []).append(pod)
    return out


def _on_node(ds: DaemonSetSpec, node: NodeRecord, pods: list[PodRecord] | None,
             backoff: Collection[str], now: datetime, plan: DaemonSetPlan) -> None:
    """podsShouldBeOnNode: create where missing; delete failed, surplus and unwanted pods."""
    run, keep = should_run(node, ds.pod_spec)
    if pods is None:
        if run:
            plan.create.append(node.name)
        return
    live = [p for p in pods if p.deletion_timestamp is None]
    if not keep:
        plan.delete.extend(live)
        return
    running: list[PodRecord] = []
    for pod in live:
        if pod.phase == "Failed":
            # The controller and the node would fight over a pod the node rejects:
            # a failed pod is replaced with a back-off per node.
            if node.name in backoff:
                plan.requeue_after = FAILED_BACKOFF_RECHECK
                continue
            plan.delete.append(pod)
            plan.failed.append(pod)
        elif pod.phase == "Succeeded":
            plan.delete.append(pod)
        else:
            running.append(pod)
    if not surging(ds):
        plan.delete.extend(running[1:])  # keep the oldest
        return
    if not running:
        if run:  # surging keeps at least one pod that is not being deleted
            plan.create.append(node.name)
        return
    if len(running) == 1:
        return
    # Two pods only while the new one is not yet available and the old one is ready;
    # neither ready: the new one stays.
    new = next((p for p in running if updated(ds, p)), None)
    old = next((p for p in running if not updated(ds, p)), None)
    plan.delete.extend(p for p in running if p is not new and p is not old)
    if new is not None and old is not None and (
            not old.ready or is_available(new, ds.min_ready_seconds, now)):
        plan.delete.append(old)


def daemonset_status(ds: DaemonSetSpec, nodes: Sequence[NodeRecord],
                     node_pods: dict[str, list[PodRecord]], now: datetime) -> DaemonSetStatus:
    """updateDaemonSetStatus: counts over nodes, from the oldest pod of each."""
    desired = current = misscheduled = ready = fresh = available = 0
    for node in nodes:
        run, _keep = should_run(node, ds.pod_spec)
        pods = [p for p in node_pods.get(node.name, [])
                if not (p.deletion_timestamp is not None and p.phase in ("Succeeded", "Failed"))]
        if not run:
            misscheduled += bool(pods)
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        pod = pods[0]
        if pod.ready:
            ready += 1
            available += is_available(pod, ds.min_ready_seconds, now)
        fresh += updated(ds, pod)
    return DaemonSetStatus(desired, current, misscheduled, ready, fresh, available,
                           ds.generation)


def plan_daemonset(ds: DaemonSetSpec, nodes: Sequence[NodeRecord], pods: Sequence[PodRecord],
                   now: datetime, backoff: Collection[str] = ()) -> DaemonSetPlan:
    """What to do for one DaemonSet now; `backoff`: nodes whose failed pod was just replaced."""
    mine, adopt, release = claim(ds, pods)
    plan = DaemonSetPlan(adopt=adopt, release=release)
    node_pods = per_node(mine)
    by_name = {n.name: n for n in nodes}
    for node in sorted(nodes, key=lambda n: n.name):
        _on_node(ds, node, node_pods.get(node.name), backoff, now, plan)
    for name, stray in sorted(node_pods.items()):
        if name not in by_name:  # a node that left: its pods go (unscheduled ones too)
            plan.delete.extend(p for p in stray if p.deletion_timestamp is None)
    plan.create = plan.create[:BURST_REPLICAS]
    plan.status = daemonset_status(ds, nodes, node_pods, now)
    if not plan.create and not plan.delete and ds.strategy == "RollingUpdate":
        delete, create = rolling_update(ds, node_pods, by_name, plan.status.desired, now)
        plan.delete.extend(delete)
        plan.create.extend(create)
    if plan.status.ready != plan.status.available and ds.min_ready_seconds > 0:
        # Ready pods become available after minReadySeconds: look again then.
        wait = timedelta(seconds=ds.min_ready_seconds)
        plan.requeue_after = min(plan.requeue_after or wait, wait)
    return plan
