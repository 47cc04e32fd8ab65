"""The DaemonSet controller: one pod per eligible node, added, removed and rolled node by node.

Keyed by the set's Key under DAEMONSET. Mirrors Kubernetes' DaemonSet
controller: the pure planner (`reconciler.planning.daemonset.plan_daemonset`)
decides which nodes get a pod, which pods go and what the rolling update
replaces; this module writes the pod records (named `<ds>-xxxxx`, owned by the
set, bound to their node by spec.nodeName; the pod controller's scheduler then
checks only that the pod fits there: resources, host ports, readiness, and
says why not in FailedScheduling), marks deleted pods, records events and
writes the set's status. Pod records are written synchronously, so the next
sync sees them: no expectations needed, and a restart in the middle of a
rollout reads the same records (a node never gets a second pod it should not).
A node registering, leaving, relabelled, cordoned or changing readiness
enqueues every DaemonSet (`Registry.route_nodes`, called by the node
controller). A deleted set takes its pods with it. An owner annotated
`reconciler.dev/suspend: "true"` is left alone, as in the replication controller.
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from datetime import datetime, timedelta

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.control.context import Context, suspended
from reconciler.control.desired import spec_hash
from reconciler.control.loop import Result, WorkKey
from reconciler.control.podwrites import create_pods, delete_pods, fresh_name
from reconciler.planning.daemonset import DaemonSetPlan, plan_daemonset
from reconciler.planning.daemonset_spec import KIND, DaemonSetSpec, ds_from_body, target_node

log = logging.getLogger(__name__)

DAEMONSET = "daemonset"
SOURCE = "daemonset-controller"
# failedPodsBackoff: 1 s, doubling, at most 15 min between replacements of a failed pod.
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 900.0


class DaemonSetController:
    """Reconciles one DaemonSet; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # (set uid, node) -> (no replacement before, the delay that led there)
        self._backoff: dict[tuple[str, str], tuple[datetime, float]] = {}
        self._lock = threading.Lock()

    def reconcile(self, key: WorkKey) -> Result:
        assert isinstance(key.id, Key)
        k = key.id
        ctx = self.ctx
        obj = ctx.get_object(k)
        if obj is None:
            ctx.collect_pods(k)
            return Result.done()
        if suspended(obj.body):
            return Result.done()
        ds = ds_from_body(obj.body, obj.uid, obj.generation)
        now_ = ctx.clock()
        pods = ctx.claimable_pods(k.namespace, obj.uid, ds.selector)
        nodes = ctx.store.list_nodes()
        plan = plan_daemonset(ds, nodes, pods, now_, self._in_backoff(ds.uid, now_))
        ctx.set_owners(ds.owner_ref, plan.adopt, plan.release)
        if plan.failed:
            self._failed(ds, plan, now_)
        if plan.delete:
            self._delete(ds, plan.delete, now_)
        if plan.create:
            self._create(ds, plan.create, {p.name for p in pods}, now_)

        status = plan.status.to_json()
        if status != (obj.status or {}):
            ctx.store.set_status(k, status)
        if plan.create or plan.delete:
            return Result.after(0.0)  # the next step of a rollout sees these records
        if plan.requeue_after is not None:
            return Result.after(plan.requeue_after.total_seconds())
        return Result.done()

    def _in_backoff(self, uid: str, now_: datetime) -> set[str]:
        with self._lock:
            return {node for (owner, node), (until, _d) in self._backoff.items()
                    if owner == uid and now_ < until}

    def _failed(self, ds: DaemonSetSpec, plan: DaemonSetPlan, now_: datetime) -> None:
        for pod in plan.failed:
            node = target_node(pod)
            with self._lock:
                _until, delay = self._backoff.get((ds.uid, node), (now_, 0.0))
                delay = min(BACKOFF_MAX, delay * 2 if delay else BACKOFF_INITIAL)
                self._backoff[(ds.uid, node)] = (now_ + timedelta(seconds=delay), delay)
            self._event(ds, "Warning", "FailedDaemonPod",
                        f"Found failed daemon pod {pod.namespace}/{pod.name} on node {node}, "
                        "will try to kill it")

    def _delete(self, ds: DaemonSetSpec, doomed: list[PodRecord], now_: datetime) -> None:
        delete_pods(self.ctx, doomed, lambda *e: self._event(ds, *e))

    def _create(self, ds: DaemonSetSpec, nodes: list[str], taken: set[str],
                now_: datetime) -> None:
        ctx = self.ctx
        fresh: list[PodRecord] = []
        for node in nodes:
            spec = copy.deepcopy(ds.spec_for(node))
            fresh.append(PodRecord(
                uid=str(uuid.uuid4()), namespace=ds.namespace, name=fresh_name(ds.name, taken),
                spec=spec, spec_hash=spec_hash(spec), created_at=now_, labels=ds.pod_labels,
                annotations=ds.pod_annotations, owner=ds.owner_ref, source="controller",
                revision=ctx.revision))
        create_pods(ctx, fresh, lambda *e: self._event(ds, *e))

    def _event(self, ds: DaemonSetSpec, type_: str, reason: str, message: str) -> None:
        self.ctx.event(KIND, ds.namespace, ds.name, "Warning" if type_ == "Warning" else "Normal",
                       reason, message, SOURCE, uid=ds.uid)

