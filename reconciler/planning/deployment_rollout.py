"""plan_deployment: what a Deployment must do to its ReplicaSets now, as plain data.

Called by the deployment controller (`reconciler.control.deployments`) on each
sync of a Deployment key; it writes the returned `DeploymentPlan` (ReplicaSets to
create, update, delete; events; status) and the replication controller then
runs each ReplicaSet's pods. Mirrors pkg/controller/deployment: syncDeployment's
order (paused, scaling event, Recreate, RollingUpdate), rolling.go
(reconcileNewReplicaSet, reconcileOldReplicaSets, cleanupUnhealthyReplicas,
scaleDownOldReplicaSetsForRollingUpdate), recreate.go, sync.go (scale with
proportional scaling, getNewReplicaSet, cleanupDeployment, isScalingEvent).
Like Kubernetes it takes one step per sync (a scale up, or a scale down) and
relies on the next sync for the next step: the controller requeues at once
after any change. Availability comes from the pods the controller counted per
ReplicaSet (what each ReplicaSet's status would say, without its lag).
Documented differences: the new ReplicaSet grows only while the live pods of
all ReplicaSets (not only their sizes) stay within replicas + maxSurge, so an
old ReplicaSet whose scale-down has not reached its pods yet holds the surge;
and the scale-down counts a ReplicaSet's available pods only up to its size, so
that same lag never lets the next sync take availability below minAvailable.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from reconciler.api.types import JSON
from reconciler.planning.deployment import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    DeploymentSpec,
    ReplicaSetState,
    equal_ignore_hash,
    replica_set_body,
    set_new_rs_annotations,
)
from reconciler.planning.deployment_status import (
    FOUND_NEW_RS_REASON,
    NEW_RS_REASON,
    PROGRESSING,
    calculate_status,
    complete,
    condition,
    get_condition,
    paused_condition,
    requeue_stuck,
    rollout_status,
    set_condition,
    timestamp,
)

_MAX_COLLISIONS = 1000


@dataclass(frozen=True)
class DeploymentEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class DeploymentPlan:
    """What to write for one Deployment; empty buckets mean nothing to do."""

    create: tuple[JSON, ...]  # bodies of new ReplicaSets
    update: tuple[JSON, ...]  # changed bodies of existing ones (scale, annotations, adoption)
    delete: tuple[str, ...]  # ReplicaSet names beyond revisionHistoryLimit
    events: tuple[DeploymentEvent, ...]
    status: JSON
    new_replica_set: str | None
    requeue_after: timedelta | None = None

    @property
    def changes(self) -> bool:
        return bool(self.create or self.update or self.delete)


def _by_creation(rs: ReplicaSetState) -> tuple[datetime, str]:
    return (rs.created_at, rs.name)


def _active(rss: Sequence[ReplicaSetState | None]) -> list[ReplicaSetState]:
    """controller.FilterActiveReplicaSets: those with replicas > 0."""
    return [rs for rs in rss if rs is not None and rs.replicas > 0]


def new_rs_new_replicas(d: DeploymentSpec, all_rs: Sequence[ReplicaSetState],
                        new_replicas: int) -> int:
    """util.NewRSNewReplicas: the new RS's size now; surge-bounded for RollingUpdate."""
    if not d.rolling:
        return d.replicas
    # An RS whose scale-down its pods have not followed yet still counts its live pods:
    # the surge bounds pods, not only sizes (Kubernetes counts sizes alone here).
    current = sum(max(rs.replicas, rs.actual) for rs in all_rs)
    max_total = d.replicas + d.max_surge
    if current >= max_total:
        return new_replicas
    return new_replicas + min(max_total - current, d.replicas - new_replicas)


@dataclass
class _Sync:
    """One sync of one Deployment: the ReplicaSets it changes in place and what it records."""

    d: DeploymentSpec
    rss: list[ReplicaSetState]
    taken: frozenset[str]
    base: JSON  # the Deployment's status as the sync goes (d.Status in Kubernetes)
    now: datetime
    events: list[DeploymentEvent] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def event(self, reason: str, message: str) -> None:
        self.events.append(DeploymentEvent("Normal", reason, message))

    # -- finding and making the new ReplicaSet --
    def new_and_old(self, create: bool) -> tuple[ReplicaSetState | None, list[ReplicaSetState]]:
        """getAllReplicaSetsAndSyncRevision: the new RS (synced or made) and the old ones."""
        d = self.d
        matches = sorted((rs for rs in self.rss if equal_ignore_hash(rs.template, d.template)),
                         key=_by_creation)
        new = matches[0] if matches else None
        old = [rs for rs in self.rss if rs is not new]
        revision = max((rs.revision for rs in old), default=0) + 1
        if new is not None:
            set_new_rs_annotations(d, new, revision, exists=True)
            new.body.setdefault("spec", {})["minReadySeconds"] = d.min_ready_seconds
            if d.has_progress_deadline and get_condition(self.base, PROGRESSING) is None:
                set_condition(self.base, condition(PROGRESSING, "True", FOUND_NEW_RS_REASON,
                                                   f'Found new replica set "{new.name}"',
                                                   self.now))
            return new, old
        if not create:
            return None, old
        return self._create(old, revision), old

    def _create(self, old: list[ReplicaSetState], revision: int) -> ReplicaSetState:
        d = self.d
        collisions = int(self.base.get("collisionCount") or 0)
        ours = {rs.name for rs in self.rss}
        for _ in range(_MAX_COLLISIONS):
            name, body = replica_set_body(d, collisions)
            if name not in self.taken and name not in ours:
                break
            # The name is held by a ReplicaSet with another template: hash again with a
            # higher collision count, recorded in the status so the next hash agrees.
            collisions += 1
        if collisions:
            self.base["collisionCount"] = collisions
        body["metadata"]["creationTimestamp"] = timestamp(self.now)
        rs = ReplicaSetState(name, body, self.now, fresh=True)
        set_new_rs_annotations(d, rs, revision, exists=False)
        rs.replicas = new_rs_new_replicas(d, old, 0)
        self.rss.append(rs)
        if rs.replicas > 0:
            self.event("ScalingReplicaSet",
                       f"Scaled up replica set {name} from 0 to {rs.replicas}")
        if d.has_progress_deadline:
            set_condition(self.base, condition(PROGRESSING, "True", NEW_RS_REASON,
                                               f'Created new replica set "{name}"', self.now))
        return rs

    # -- scaling --
    def scale_rs(self, rs: ReplicaSetState, size: int) -> bool:
        """scaleReplicaSet: the size and the replicas annotations; an event when the size moved."""
        d = self.d
        rs.set_replicas_annotations(d.replicas, d.replicas + d.max_surge)
        if rs.replicas == size:
            return False
        before = rs.replicas
        rs.replicas = size
        direction = "up" if before < size else "down"
        self.event("ScalingReplicaSet",
                   f"Scaled {direction} replica set {rs.name} from {before} to {size}")
        return True

    def scale_and_record(self, rs: ReplicaSetState, size: int) -> bool:
        """scaleReplicaSetAndRecordEvent: nothing at all when the size is already right."""
        if rs.replicas == size:
            return False
        return self.scale_rs(rs, size)

    def scaling_event(self) -> bool:
        """isScalingEvent: an active RS was sized for another replica count."""
        new, old = self.new_and_old(create=False)
        for rs in _active([*old, new]):
            desired = rs.annotation_int(DESIRED_REPLICAS)
            if desired is not None and desired != self.d.replicas:
                return True
        return False

    def scale(self, new: ReplicaSetState | None, old: list[ReplicaSetState]) -> None:
        """scale: the only active RS takes the count; else proportional to each RS's size."""
        d = self.d
        latest = self._active_or_latest(new, old)
        if latest is not None:
            self.scale_and_record(latest, d.replicas)
            return
        if new is not None and self._saturated(new):
            for rs in _active(old):
                self.scale_and_record(rs, 0)
            return
        if not d.rolling:
            return
        active = _active([*old, new])
        allowed = d.replicas + d.max_surge if d.replicas > 0 else 0
        to_add = allowed - sum(rs.replicas for rs in active)
        # Larger first; on a tie newer first when growing and older first when shrinking.
        if to_add > 0:
            active.sort(key=lambda rs: (-rs.replicas, -rs.created_at.timestamp(), rs.name))
        elif to_add < 0:
            active.sort(key=lambda rs: (-rs.replicas, rs.created_at.timestamp(), rs.name))
        added = 0
        sizes: dict[str, int] = {}
        for rs in active:
            part = self._proportion(rs, to_add, added) if to_add else 0
            sizes[rs.name] = rs.replicas + part
            added += part
        for i, rs in enumerate(active):
            if i == 0 and to_add:
                # The rounding's leftovers go to the largest.
                sizes[rs.name] = max(0, sizes[rs.name] + to_add - added)
            self.scale_rs(rs, sizes[rs.name])

    @staticmethod
    def _active_or_latest(new: ReplicaSetState | None,
                          old: list[ReplicaSetState]) -> ReplicaSetState | None:
        """util.FindActiveOrLatest."""
        if new is None and not old:
            return None
        newest_first = sorted(old, key=_by_creation, reverse=True)
        active = _active([*newest_first, new])
        if not active:
            return new if new is not None else newest_first[0]
        return active[0] if len(active) == 1 else None

    def _saturated(self, rs: ReplicaSetState) -> bool:
        """util.IsSaturated: sized for this count and all of it available."""
        r = self.d.replicas
        return rs.replicas == r and rs.annotation_int(DESIRED_REPLICAS) == r and rs.available == r

    def _proportion(self, rs: ReplicaSetState, to_add: int, added: int) -> int:
        """util.GetReplicaSetProportion: this RS's share, bounded by what is left to add."""
        if rs.replicas == 0 or to_add == added:
            return 0
        d = self.d
        if d.replicas == 0:
            fraction = -rs.replicas
        else:
            max_now = d.replicas + d.max_surge
            before = rs.annotation_int(MAX_REPLICAS) or int(self.base.get("replicas") or 0)
            before = before or max_now
            fraction = math.floor(rs.replicas * max_now / before + 0.5) - rs.replicas
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    # -- the strategies --
    def rolling(self) -> tuple[ReplicaSetState | None, JSON]:
        """rolloutRolling: scale the new RS up within maxSurge, else old ones down within
        maxUnavailable, else clean up."""
        new, old = self.new_and_old(create=True)
        assert new is not None
        all_rs = [*old, new]
        if self.reconcile_new(all_rs, new) or self.reconcile_old(all_rs, _active(old), new):
            return new, self.status(all_rs, new)
        if complete(self.d, self.base):
            self.cleanup(old)
        return new, self.status(all_rs, new)

    def reconcile_new(self, all_rs: list[ReplicaSetState], new: ReplicaSetState) -> bool:
        d = self.d
        if new.replicas == d.replicas:
            return False
        if new.replicas > d.replicas:
            return self.scale_and_record(new, d.replicas)
        return self.scale_and_record(new, new_rs_new_replicas(d, all_rs, new.replicas))

    def reconcile_old(self, all_rs: list[ReplicaSetState], old_active: list[ReplicaSetState],
                      new: ReplicaSetState) -> bool:
        if sum(rs.replicas for rs in old_active) == 0:
            return False
        min_available = self.d.replicas - self.d.max_unavailable
        # Unavailable new pods count against maxUnavailable: old ones never go below it.
        new_unavailable = new.replicas - new.staying
        max_scaled_down = sum(rs.replicas for rs in all_rs) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self._cleanup_unhealthy(old_active, max_scaled_down)
        scaled = self._scale_down_old(all_rs, old_active, min_available)
        return cleaned + scaled > 0

    def _cleanup_unhealthy(self, old: list[ReplicaSetState], max_cleanup: int) -> int:
        """cleanupUnhealthyReplicas: unavailable old pods go first, they serve nobody."""
        total = 0
        for rs in sorted(old, key=_by_creation):
            if total >= max_cleanup:
                break
            count = min(max_cleanup - total, rs.replicas - rs.available)
            if rs.replicas == 0 or count <= 0:
                continue
            self.scale_and_record(rs, rs.replicas - count)
            total += count
        return total

    def _scale_down_old(self, all_rs: list[ReplicaSetState], old: list[ReplicaSetState],
                        min_available: int) -> int:
        """scaleDownOldReplicaSetsForRollingUpdate: oldest first, down to minAvailable."""
        # Pods above their ReplicaSet's size are going (the replication controller deletes
        # them on its next sync): counting them would let the very next sync scale the old
        # ReplicaSets down again, below minAvailable.
        available = sum(rs.staying for rs in all_rs)
        if available <= min_available:
            return 0
        wanted = available - min_available
        total = 0
        for rs in sorted(old, key=_by_creation):
            if total >= wanted:
                break
            if rs.replicas == 0:
                continue
            count = min(rs.replicas, wanted - total)
            self.scale_and_record(rs, rs.replicas - count)
            total += count
        return total

    def recreate(self) -> tuple[ReplicaSetState | None, JSON]:
        """rolloutRecreate: every old pod stops before the new RS starts."""
        new, old = self.new_and_old(create=False)
        all_rs = [*old, *([new] if new else [])]
        scaled = [self.scale_and_record(rs, 0) for rs in _active(old)]
        if any(scaled) or any(rs.actual or rs.present for rs in old):
            return new, self.status(all_rs, new)
        if new is None:
            new, old = self.new_and_old(create=True)
            assert new is not None
            all_rs = [*old, new]
        if self.scale_and_record(new, self.d.replicas):
            return new, self.status(all_rs, new)
        if complete(self.d, self.base):
            self.cleanup(old)
        return new, self.status(all_rs, new)

    def sync(self) -> tuple[ReplicaSetState | None, JSON]:
        """sync: a scaling event or a paused Deployment: scale, no rollout."""
        new, old = self.new_and_old(create=False)
        self.scale(new, old)
        if self.d.paused:
            self.cleanup(old)
        all_rs = [*old, *([new] if new else [])]
        return new, calculate_status(self.d, all_rs, new, self.base, self.now)

    def cleanup(self, old: list[ReplicaSetState]) -> None:
        """cleanupDeployment: old RSs beyond revisionHistoryLimit, lowest revision first,
        only those with no pods left."""
        limit = self.d.revision_history_limit
        if limit is None:
            return
        excess = len(old) - limit
        if excess <= 0:
            return
        for rs in sorted(old, key=lambda r: (r.revision, r.created_at, r.name))[:excess]:
            if rs.replicas or rs.actual or rs.present:
                continue
            self.deleted.append(rs.name)
            self.rss.remove(rs)

    def status(self, all_rs: list[ReplicaSetState], new: ReplicaSetState | None) -> JSON:
        live = [rs for rs in all_rs if rs.name not in self.deleted]
        return rollout_status(self.d, live, new, self.base, self.now)


def plan_deployment(
    d: DeploymentSpec,
    owned: Sequence[ReplicaSetState],
    orphans: Sequence[ReplicaSetState],
    taken: frozenset[str],
    old_status: JSON | None,
    now: datetime,
) -> DeploymentPlan:
    """The plan for `d` given its ReplicaSets, orphans it may adopt, and the RS names in use.

    `owned` and `orphans` are changed in place (their bodies are the planner's to edit);
    `taken` holds every ReplicaSet name of the namespace, for hash collisions.
    """
    before = {rs.name: copy.deepcopy(rs.body) for rs in [*owned, *orphans]}
    rss = list(owned)
    selector = d.label_selector
    for rs in orphans:
        # ClaimReplicaSets: an orphan whose labels the selector matches becomes ours.
        if selector.matches((rs.body.get("metadata") or {}).get("labels") or {}):
            rs.body.setdefault("metadata", {})["ownerReferences"] = [d.owner_reference()]
            rss.append(rs)
    base = copy.deepcopy(old_status or {})
    base.setdefault("conditions", [])
    s = _Sync(d, rss, taken, base, now)
    paused_condition(d, s.base, now)
    if d.paused or s.scaling_event():
        new, status = s.sync()
    elif not d.rolling:
        new, status = s.recreate()
    else:
        new, status = s.rolling()
    if not status.get("conditions"):
        status.pop("conditions", None)
    create = tuple(rs.body for rs in s.rss if rs.fresh)
    update = tuple(rs.body for rs in s.rss if not rs.fresh and rs.body != before.get(rs.name))
    plan = DeploymentPlan(create, update, tuple(s.deleted), tuple(s.events), status,
                          new.name if new is not None else None)
    return DeploymentPlan(plan.create, plan.update, plan.delete, plan.events, plan.status,
                          plan.new_replica_set, _requeue(d, s.rss, status, plan, now))


def _requeue(d: DeploymentSpec, rss: Sequence[ReplicaSetState], status: JSON,
             plan: DeploymentPlan, now: datetime) -> timedelta | None:
    """At once after a change (the next step); else when a deadline or minReadySeconds
    can change the answer."""
    if plan.changes:
        return timedelta(0)
    waits = []
    if not d.paused:
        stuck = requeue_stuck(d, status, now)
        if stuck is not None:
            waits.append(stuck)
    if d.min_ready_seconds and any(rs.ready > rs.available for rs in rss):
        waits.append(timedelta(seconds=d.min_ready_seconds))
    return min(waits) if waits else None
