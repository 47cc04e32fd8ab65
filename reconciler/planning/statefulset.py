"""plan_statefulset: what a StatefulSet must do now, as plain data.

Called by the StatefulSet controller (`reconciler.control.statefulsets`) on each
sync of a set's key; it applies the returned `StatefulSetPlan` (ensure claims,
create pods, delete pods, release claims, write status). Mirrors Kubernetes'
pkg/controller/statefulset: updateStatefulSet and processReplica in
stateful_set_control.go (ordinals, monotonic OrderedReady vs Parallel bursts,
condemned pods from the highest ordinal down, rolling update down to the
partition, completeRollingUpdate) and stateful_set_utils.go (pod identity,
claim names and newVersionedStatefulSetPod are in
`reconciler.planning.statefulset_identity`). Documented difference: the revision
is a hash of the template, not a stored ControllerRevision, so a pod below the
partition is recreated from a sibling still at the current revision, or at the
update revision when none is left.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.api.records import ClaimRecord, PodRecord
from reconciler.api.types import JSON
from reconciler.planning.replicas import controller_of, is_available
from reconciler.planning.statefulset_identity import (
    DELETE,
    ON_DELETE,
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    ROLLING_UPDATE,
    NewPod,
    StatefulSetSpec,
    claims_for,
    ordinal_of,
    pod_revision,
    versioned_pod,
)

CLAIM_POLL = timedelta(seconds=2)


@dataclass(frozen=True)
class StatefulSetStatus:
    """StatefulSetStatus, as computeReplicaStatus and completeRollingUpdate leave it."""

    observed_generation: int
    replicas: int
    ready_replicas: int
    current_replicas: int
    updated_replicas: int
    available_replicas: int
    current_revision: str
    update_revision: str

    def to_json(self) -> JSON:
        """Kubernetes' field names, for `status` in the store and `-o yaml`."""
        return {
            "observedGeneration": self.observed_generation,
            "replicas": self.replicas,
            "readyReplicas": self.ready_replicas,
            "currentReplicas": self.current_replicas,
            "updatedReplicas": self.updated_replicas,
            "availableReplicas": self.available_replicas,
            "currentRevision": self.current_revision,
            "updateRevision": self.update_revision,
            "collisionCount": 0,
        }


@dataclass(frozen=True)
class StatefulSetPlan:
    """What to do for one set; empty buckets mean nothing to do."""

    adopt: tuple[PodRecord, ...]  # orphans named like our members: give them our reference
    relabel: tuple[PodRecord, ...]  # members with their identity labels put right (copies)
    claims: tuple[ClaimRecord, ...]  # claims the created pods need: ensure them first
    create: tuple[NewPod, ...]  # in ordinal order
    delete: tuple[PodRecord, ...]  # in deletion order
    release_claims: tuple[ClaimRecord, ...]  # whenScaled Delete: claims of removed ordinals
    status: StatefulSetStatus
    waiting: str = ""  # why no progress was made (OrderedReady blocked), for logs and tests
    requeue_after: timedelta | None = None

    @property
    def changes(self) -> bool:
        return bool(self.adopt or self.relabel or self.create or self.delete
                    or self.release_claims)


def is_running_and_ready(pod: PodRecord) -> bool:
    return pod.phase == "Running" and pod.ready


def is_terminating(pod: PodRecord) -> bool:
    return pod.deletion_timestamp is not None


def is_finished(pod: PodRecord) -> bool:
    return pod.phase in ("Succeeded", "Failed")


def is_healthy(pod: PodRecord, min_ready_seconds: int, now: datetime) -> bool:
    """Running, Ready (for minReadySeconds) and not being deleted."""
    return (
        is_running_and_ready(pod)
        and not is_terminating(pod)
        and is_available(pod, min_ready_seconds, now)
    )



def compute_status(
    set_: StatefulSetSpec, pods: Sequence[PodRecord], current: str, update: str,
    now: datetime,
) -> StatefulSetStatus:
    """computeReplicaStatus, then completeRollingUpdate."""
    ready = [p for p in pods if is_running_and_ready(p)]
    live = [p for p in pods if not is_terminating(p)]
    status = StatefulSetStatus(
        observed_generation=set_.generation,
        replicas=len(pods),
        ready_replicas=len(ready),
        current_replicas=sum(1 for p in live if pod_revision(p) == current),
        updated_replicas=sum(1 for p in live if pod_revision(p) == update),
        available_replicas=sum(1 for p in ready
                               if is_available(p, set_.min_ready_seconds, now)),
        current_revision=current,
        update_revision=update,
    )
    if (
        set_.update_type == ROLLING_UPDATE
        and status.updated_replicas == status.replicas
        and status.ready_replicas == status.replicas
    ):
        status = dataclasses.replace(status, current_revision=update,
                                     current_replicas=status.updated_replicas)
    return status


@dataclass
class _Builder:
    """The buckets as updateStatefulSet fills them, before they are frozen into the plan."""

    create: list[NewPod] = field(default_factory=list)
    claims: list[ClaimRecord] = field(default_factory=list)
    delete: list[PodRecord] = field(default_factory=list)
    waiting: str = ""
    claim_pending: bool = False  # nothing wakes the set when a claim is removed: poll


def plan_statefulset(
    set_: StatefulSetSpec,
    pods: Sequence[PodRecord],
    claims: Sequence[ClaimRecord],
    now: datetime,
) -> StatefulSetPlan:
    """The plan for `set_` given the pods it may own and the claims of its namespace."""
    adopt: list[PodRecord] = []
    members: dict[int, PodRecord] = {}
    for pod in pods:
        if pod.namespace != set_.namespace:
            continue
        ordinal = ordinal_of(set_, pod.name)
        ref = controller_of(pod)
        if ordinal is None or (ref is not None and ref.uid != set_.uid):
            continue
        if ref is None:
            # ClaimPods: an orphan that is a member by name and selector is adopted.
            if is_terminating(pod) or not set_.selector.matches(pod.labels):
                continue
            adopt.append(pod)
        members[ordinal] = pod

    update = set_.update_revision
    current = set_.current_revision or update
    status = compute_status(set_, list(members.values()), current, update, now)
    by_name = {(c.namespace, c.name): c for c in claims}
    b = _Builder()
    _update(set_, members, by_name, current, update, now, b)
    release = _released_claims(set_, members, by_name, b)
    requeue = None
    if set_.min_ready_seconds and any(
        is_running_and_ready(p) and not is_available(p, set_.min_ready_seconds, now)
        for p in members.values()
    ):
        requeue = timedelta(seconds=set_.min_ready_seconds)
    if b.claim_pending:
        requeue = min(requeue or CLAIM_POLL, CLAIM_POLL)
    return StatefulSetPlan(
        adopt=tuple(sorted(adopt, key=lambda p: p.name)),
        relabel=tuple(_relabelled(members)),
        claims=tuple(b.claims),
        create=tuple(b.create),
        delete=tuple(b.delete),
        release_claims=tuple(release),
        status=status,
        waiting=b.waiting,
        requeue_after=requeue,
    )


def _update(
    set_: StatefulSetSpec,
    members: dict[int, PodRecord],
    claims: dict[tuple[str, str], ClaimRecord],
    current: str,
    update: str,
    now: datetime,
    b: _Builder,
) -> None:
    """updateStatefulSet's walk: replicas up, condemned down, then the rolling update."""
    monotonic = set_.monotonic
    healthy = {i: is_healthy(p, set_.min_ready_seconds, now) for i, p in members.items()}
    condemned = sorted(i for i in members if i not in set_.ordinals)
    unhealthy = sorted(i for i in members if not healthy[i])
    first_unhealthy = unhealthy[0] if unhealthy else None

    for ordinal in set_.ordinals:
        pod = members.get(ordinal)
        if pod is not None and is_finished(pod) and not is_terminating(pod):
            # A failed or succeeded member is deleted, then recreated under the same name.
            b.delete.append(pod)
            if monotonic:
                b.waiting = f"waiting for {pod.name} ({pod.phase}) to be deleted"
                return
            continue
        if pod is None:
            wanted = claims_for(set_, ordinal)
            doomed = [c.name for c in wanted if (c.namespace, c.name) in claims
                      and claims[(c.namespace, c.name)].deletion_timestamp is not None]
            if doomed:
                # A claim being removed would hand the new pod a volume about to go.
                b.waiting = f"waiting for claim {doomed[0]} to be removed"
                b.claim_pending = True
                if monotonic:
                    return
                continue
            b.claims.extend(wanted)
            b.create.append(versioned_pod(set_, ordinal, current, update, members))
            if monotonic:
                return
            continue
        if monotonic and not healthy[ordinal]:
            state = "terminating" if is_terminating(pod) else "not Running and Ready"
            b.waiting = f"waiting for {pod.name} ({state})"
            return

    for ordinal in reversed(condemned):
        pod = members[ordinal]
        if is_terminating(pod):
            if monotonic:
                b.waiting = f"waiting for {pod.name} to terminate"
                return
            continue
        if monotonic and not is_running_and_ready(pod) and ordinal != first_unhealthy:
            blocker = members[first_unhealthy].name if first_unhealthy is not None else "?"
            b.waiting = f"waiting for {blocker} before removing {pod.name}"
            return
        b.delete.append(pod)
        if monotonic:
            return

    if set_.update_type == ON_DELETE:
        return
    # The partition counts from the first ordinal, as getStartOrdinal + partition does.
    for ordinal in range(set_.ordinals.stop - 1, set_.start + set_.partition - 1, -1):
        pod = members.get(ordinal)
        if pod is None or pod in b.delete:
            return  # being made again in this pass: not Ready yet
        if pod_revision(pod) != update and not is_terminating(pod):
            b.delete.append(pod)
            return
        if not healthy[ordinal]:
            b.waiting = f"waiting for {pod.name} to be updated and Ready"
            return


def _relabelled(members: dict[int, PodRecord]) -> list[PodRecord]:
    """identityMatches / updateIdentity: members whose pod-name or pod-index label is off."""
    out = []
    for ordinal, pod in sorted(members.items()):
        want = {POD_NAME_LABEL: pod.name, POD_INDEX_LABEL: str(ordinal)}
        if any(pod.labels.get(k) != v for k, v in want.items()) and not is_terminating(pod):
            out.append(dataclasses.replace(pod, labels={**pod.labels, **want}))
    return out


def _released_claims(
    set_: StatefulSetSpec,
    members: dict[int, PodRecord],
    claims: dict[tuple[str, str], ClaimRecord],
    b: _Builder,
) -> list[ClaimRecord]:
    """whenScaled Delete: the claims of ordinals the set no longer wants whose pod is gone."""
    if set_.when_scaled != DELETE or not set_.claim_templates:
        return []
    out: list[ClaimRecord] = []
    for claim in claims.values():
        if claim.namespace != set_.namespace or claim.deletion_timestamp is not None:
            continue
        for t in set_.claim_templates:
            prefix = f"{t.name}-{set_.name}-"
            rest = claim.name[len(prefix):] if claim.name.startswith(prefix) else ""
            if re.fullmatch(r"0|[1-9][0-9]*", rest):
                ordinal = int(rest)
                if ordinal not in set_.ordinals and ordinal not in members:
                    out.append(claim)
                break
    return sorted(out, key=lambda c: c.name)
