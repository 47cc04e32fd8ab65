"""The Deployment controller: rolls a Deployment's pods through ReplicaSets it writes.

Keyed by the Deployment's Key under DEPLOYMENT (registered in
`reconciler.control.registry`). Mirrors Kubernetes' deployment controller: the
pure planner (`reconciler.planning.deployment_rollout.plan_deployment`) decides
which ReplicaSets to create, scale, adopt or delete and computes the status;
this module reads the Deployment, its ReplicaSets and their pods (from the
cache when there is one), writes the ReplicaSets as controller-owned store
objects (`Store.write_owned`, named `<deployment>-<pod-template-hash>`, so a
restart finds the same names and never makes a second one), wakes the
replication controller that runs each of them, records events and writes the
Deployment's status. The replication controller wakes this one whenever a
ReplicaSet's status moves, as the deployment controller watches its
ReplicaSets. A deleted Deployment takes its ReplicaSets (and through them their
pods) with it. An owner annotated `reconciler.dev/suspend: "true"` is left alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.control.context import REPLICATION, Context, suspended
from reconciler.control.loop import Result, WorkKey
from reconciler.planning.deployment import (
    DeploymentSpec,
    ReplicaSetState,
    controller_ref,
    deployment_from_body,
    owned_source,
)
from reconciler.planning.deployment_rollout import DeploymentPlan, plan_deployment
from reconciler.planning.deployment_status import (
    NEW_RS_AVAILABLE_REASON,
    PROGRESSING,
    TIMED_OUT_REASON,
    complete,
    get_condition,
)
from reconciler.planning.diff import OWNED_SOURCE_PREFIX
from reconciler.planning.replicas import is_active, is_available

log = logging.getLogger(__name__)

DEPLOYMENT = "deployment"
KIND = "Deployment"
SOURCE = "deployment-controller"
# While a rollout is under way, look again at least this often: readiness reaches this
# controller through the ReplicaSets' status, and this bounds the cost of a missed wake-up.
ROLLOUT_POLL = timedelta(seconds=5)


def count_pods(rs: ReplicaSetState, pods: list[PodRecord], min_ready_seconds: int,
               now: datetime) -> None:
    """Fill a ReplicaSet's pod counts as its status would: active, ready, available, present."""
    active = [p for p in pods if is_active(p)]
    rs.actual = len(active)
    rs.ready = sum(1 for p in active if p.ready)
    rs.available = sum(1 for p in active if is_available(p, min_ready_seconds, now))
    rs.present = sum(1 for p in pods if p.phase not in ("Succeeded", "Failed"))


class DeploymentController:
    """Reconciles one Deployment; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _pods(self, namespace: str, owner_uid: str) -> list[PodRecord]:
        ctx = self.ctx
        if ctx.cache is not None and ctx.cache.synced:
            return ctx.cache.pods(namespace, owner_uid=owner_uid)
        return ctx.store.list_pods(namespace=namespace, owner_uid=owner_uid, containers=False)

    def reconcile(self, key: WorkKey) -> Result:
        assert isinstance(key.id, Key)
        k = key.id
        ctx = self.ctx
        obj = ctx.get_object(k)
        if obj is None:
            return self._collect(k)
        if suspended(obj.body):
            return Result.done()
        d = deployment_from_body(obj.body, obj.uid, obj.generation, obj.revision,
                                 obj.content_hash)
        now_ = ctx.clock()
        owned, orphans, taken = self._replica_sets(d, now_)
        plan = plan_deployment(d, owned, orphans, taken, obj.status, now_)
        self._apply(d, plan, now_)
        if plan.status != (obj.status or {}):
            ctx.store.set_status(k, plan.status)
        return self._result(d, plan)

    def _replica_sets(self, d: DeploymentSpec, now_: datetime
                      ) -> tuple[list[ReplicaSetState], list[ReplicaSetState], frozenset[str]]:
        """Its ReplicaSets, the orphans it may adopt, and every ReplicaSet name in use."""
        deployments = {o.uid for o in self.ctx.list_objects(KIND, d.namespace)}
        owned: list[ReplicaSetState] = []
        orphans: list[ReplicaSetState] = []
        names: set[str] = set()
        for rs in self.ctx.list_objects("ReplicaSet", d.namespace):
            names.add(rs.key.name)
            ref = controller_ref(rs.body)
            mine = ref is not None and ref.get("uid") == d.uid
            # An orphan: written by a Deployment controller, its owner gone (deleted and
            # declared again while the service was down). A manifest's RS is never adopted:
            # its manifest would rewrite it.
            orphan = (not mine and rs.source_file.startswith(OWNED_SOURCE_PREFIX)
                      and (ref is None or ref.get("uid") not in deployments))
            if not (mine or orphan):
                continue
            state = ReplicaSetState(rs.key.name, rs.body, rs.created_at, uid=rs.uid)
            count_pods(state, self._pods(d.namespace, rs.uid), d.min_ready_seconds, now_)
            (owned if mine else orphans).append(state)
        return owned, orphans, frozenset(names)

    def _apply(self, d: DeploymentSpec, plan: DeploymentPlan, now_: datetime) -> None:
        ctx = self.ctx
        if plan.changes:
            upserts = [(Key("ReplicaSet", d.namespace, b["metadata"]["name"]), b)
                       for b in [*plan.create, *plan.update]]
            deletes = [Key("ReplicaSet", d.namespace, n) for n in plan.delete]
            refused = ctx.store.write_owned(owned_source(d.namespace, d.name), upserts,
                                            deletes, now_)
            for rs_key in refused:
                self._event(d, "Warning", "FailedCreate",
                            f'Failed to create new replica set "{rs_key.name}": a ReplicaSet '
                            "of that name is declared in a manifest")
            for rs_key, _ in upserts:
                ctx.enqueue(REPLICATION, rs_key)
            for rs_key in deletes:
                ctx.enqueue(REPLICATION, rs_key)  # its pods go with it
        for ev in plan.events:
            self._event(d, ev.type, ev.reason, ev.message)

    def _result(self, d: DeploymentSpec, plan: DeploymentPlan) -> Result:
        waits = [plan.requeue_after] if plan.requeue_after is not None else []
        progressing = get_condition(plan.status, PROGRESSING)
        settled = complete(d, plan.status) or (progressing is not None and progressing.get(
            "reason") in (NEW_RS_AVAILABLE_REASON, TIMED_OUT_REASON))
        if not d.paused and not settled:
            waits.append(ROLLOUT_POLL)
        return Result.after(min(waits).total_seconds()) if waits else Result.done()

    def _event(self, d: DeploymentSpec, type_: str, reason: str, message: str) -> None:
        self.ctx.event(KIND, d.namespace, d.name, "Warning" if type_ == "Warning" else "Normal",
                       reason, message, SOURCE, uid=d.uid)

    def _collect(self, k: Key) -> Result:
        """The Deployment is gone: delete its ReplicaSets; their pods go with them."""
        ctx = self.ctx
        keys = ctx.store.owned_objects(owned_source(k.namespace, k.name))
        if keys:
            ctx.store.write_owned(owned_source(k.namespace, k.name), [], keys, ctx.clock())
            for rs_key in keys:
                ctx.enqueue(REPLICATION, rs_key)
        return Result.done()
