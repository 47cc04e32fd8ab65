"""The StatefulSet controller: pods with stable names, ordered start and stop, stable claims.

Keyed by the set's Key under STATEFULSET. Mirrors Kubernetes' StatefulSet
controller: the pure planner (`reconciler.planning.statefulset.plan_statefulset`)
decides which ordinals to create or delete and which claims to release; this
module ensures the claims (`store.ensure_claims`), writes the pod records
(run by the pod controller, scheduled onto the node holding their claims),
marks deleted pods and claims, and writes the set's status. Pod records are
written synchronously, so the next sync sees them: no expectations needed.
A deleted set takes its pods with it; its claims stay unless its
persistentVolumeClaimRetentionPolicy.whenDeleted says Delete: then the claims
carry the set as their owner (kept in step with the policy on every sync), so
they are collected even when the set went while the service was down (the
claim controller, `reconciler.control.claims`, removes the volumes). An owner annotated
`reconciler.dev/suspend: "true"` is left alone, as in the replication controller.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Literal

from reconciler.api.records import ClaimRecord, PodRecord
from reconciler.api.types import Key
from reconciler.control.claims import CLAIM
from reconciler.control.context import Context, suspended
from reconciler.control.desired import spec_hash
from reconciler.control.loop import Result, WorkKey
from reconciler.planning.statefulset import plan_statefulset
from reconciler.planning.statefulset_identity import (
    NewPod,
    StatefulSetSpec,
    claims_to_reown,
    missing_member_claims,
    set_from_body,
)

log = logging.getLogger(__name__)

SOURCE = "statefulset-controller"
KIND = "StatefulSet"


class StatefulSetController:
    """Reconciles one StatefulSet; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def reconcile(self, key: WorkKey) -> Result:
        assert isinstance(key.id, Key)
        k = key.id
        ctx = self.ctx
        obj = ctx.get_object(k)
        if obj is None:
            return self._collect(k)
        if suspended(obj.body):
            return Result.done()
        set_ = set_from_body(obj.body, obj.uid, obj.generation, obj.status)
        now_ = ctx.clock()
        # A stale cache cannot duplicate a member: create_pods refuses a name already taken.
        pods = ctx.claimable_pods(k.namespace, obj.uid, set_.selector, orphans_only=True)
        claims = ctx.store.list_claims(namespace=k.namespace)
        plan = plan_statefulset(set_, pods, claims, now_)
        if plan.waiting:
            log.debug("StatefulSet %s/%s: %s", k.namespace, k.name, plan.waiting)

        ctx.set_owners(set_.owner_ref, plan.adopt)
        if plan.relabel:
            ctx.store.patch_pods(plan.relabel, ["metadata"])
        if plan.claims:
            self._ensure_claims(set_, plan.create, plan.claims, claims)
        missing = missing_member_claims(set_, pods, claims)
        if missing:
            ctx.store.ensure_claims(missing)
            for claim in missing:
                self._event(set_, "Normal", "SuccessfulCreate",
                            f"create Claim {claim.name} in StatefulSet {set_.name} success")
            for pod in pods:  # a member waiting for its claim can be placed now
                if pod.deletion_timestamp is None and not pod.node_name:
                    ctx.enqueue_pod(pod.uid)
        reown = claims_to_reown(set_, claims)
        if reown:  # whenDeleted changed: the set owns its claims only under Delete
            ctx.store.ensure_claims(reown)
        for new in plan.create:
            self._create(set_, new, now_)
        if plan.delete:
            for pod in plan.delete:
                pod.deletion_timestamp = now_
            ctx.store.patch_pods(plan.delete, ["deletion"])
            for pod in plan.delete:
                ctx.enqueue_pod(pod.uid)
                self._event(set_, "Normal", "SuccessfulDelete",
                            f"delete Pod {pod.name} in StatefulSet {set_.name} successful")
        if plan.release_claims:
            self._release(plan.release_claims, now_)

        status = plan.status.to_json()
        if status != (obj.status or {}):
            ctx.store.set_status(k, status)
        if plan.requeue_after is not None:
            return Result.after(plan.requeue_after.total_seconds())
        return Result.done()

    def _ensure_claims(
        self,
        set_: StatefulSetSpec,
        new: tuple[NewPod, ...],
        wanted: tuple[ClaimRecord, ...],
        known: list[ClaimRecord],
    ) -> None:
        """Claims first, as createPersistentVolumeClaims does before creating the pod."""
        before = {c.name for c in known}
        self.ctx.store.ensure_claims(wanted)
        for pod in new:
            for volume in pod.spec.get("volumes") or []:
                name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
                if name and name not in before:
                    self._event(set_, "Normal", "SuccessfulCreate",
                                f"create Claim {name} Pod {pod.name} in StatefulSet "
                                f"{set_.name} success")

    def _create(self, set_: StatefulSetSpec, new: NewPod, now_: datetime) -> None:
        ctx = self.ctx
        pod = PodRecord(
            uid=str(uuid.uuid4()),
            namespace=set_.namespace,
            name=new.name,
            spec=new.spec,
            spec_hash=spec_hash(new.spec),
            created_at=now_,
            labels=new.labels,
            annotations=new.annotations,
            owner=set_.owner_ref,
            source="controller",
            revision=ctx.revision,
        )
        if ctx.store.create_pods([pod]):
            # Names are unique per namespace: another pod (a manifest Pod, another owner's)
            # held this ordinal's name first and keeps it, as the API server answers.
            self._event(set_, "Warning", "FailedCreate",
                        f"create Pod {new.name} in StatefulSet {set_.name} failed error: "
                        f'pods "{new.name}" already exists')
            return
        ctx.enqueue_pod(pod.uid)
        self._event(set_, "Normal", "SuccessfulCreate",
                    f"create Pod {pod.name} in StatefulSet {set_.name} successful")

    def _release(self, claims: tuple[ClaimRecord, ...] | list[ClaimRecord],
                 now_: datetime) -> None:
        """Mark claims for removal; the claim controller removes each once no pod uses it."""
        self.ctx.store.mark_claims_deleted(claims, now_)
        for claim in claims:
            self.ctx.enqueue(CLAIM, (claim.namespace, claim.name))

    def _event(self, set_: StatefulSetSpec, type_: Literal["Normal", "Warning"], reason: str,
               message: str) -> None:
        self.ctx.event(KIND, set_.namespace, set_.name, type_, reason, message, SOURCE,
                       uid=set_.uid)

    def _collect(self, k: Key) -> Result:
        """The set is gone: delete its pods; its claims too if whenDeleted said Delete."""
        ctx = self.ctx
        now_ = ctx.clock()
        ctx.collect_pods(k)
        # Claims owned by the set are those of whenDeleted Delete (see claim_owner).
        claims = [c for c in ctx.store.list_claims(namespace=k.namespace)
                  if c.owner is not None and c.owner.kind == KIND
                  and c.owner.name == k.name and c.deletion_timestamp is None]
        if claims:
            self._release(claims, now_)
        return Result.done()
