"""plan_replicas: what a ReplicationController or ReplicaSet must do now, as plain data.

Called by the replication controller on each sync of an owner key; it applies the
returned `ReplicaPlan` (adopt, release, create in slow-start batches, delete in
order, remove garbage, write status) and records expectations before acting. One
planner for both kinds: an RC is an RS whose selector is an equality map.
Mirrors pkg/controller/replicaset: syncReplicaSet (FilterActivePods, claimPods
through ControllerRefManager.ClaimObject, manageReplicas with burstReplicas and
slowStartBatch, getPodsToDelete with ActivePodsWithRanks) and calculateStatus.
Documented difference: "newer before older" and "ready for less time first"
compare exact timestamps, not the LogarithmicScaleDown buckets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.api.records import OwnerRef, PodRecord
from reconciler.api.selectors import Selector, from_label_selector, from_map
from reconciler.api.types import JSON
from reconciler.planning.expectations import ExpectationsView

BURST_REPLICAS = 500  # replicaset controller's BurstReplicas: creates or deletes per sync
SLOW_START_INITIAL_BATCH = 1  # controller.SlowStartInitialBatchSize
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass(frozen=True)
class ReplicaOwner:
    """The parts of an RC or RS the planner needs, from its defaulted body."""

    kind: str
    namespace: str
    name: str
    uid: str
    selector: Selector
    replicas: int
    template: JSON
    generation: int = 1
    min_ready_seconds: int = 0
    api_version: str = "v1"

    @property
    def key(self) -> str:
        """The expectations and work-queue key: `Kind/namespace/name`."""
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def owner_ref(self) -> OwnerRef:
        """The controller reference its pods carry."""
        return OwnerRef(self.kind, self.name, self.uid, self.api_version, controller=True)

    @property
    def pod_labels(self) -> dict[str, str]:
        return dict((self.template.get("metadata") or {}).get("labels") or {})

    @property
    def pod_annotations(self) -> dict[str, str]:
        return dict((self.template.get("metadata") or {}).get("annotations") or {})

    @property
    def pod_spec(self) -> JSON:
        return dict(self.template.get("spec") or {})


def owner_from_body(body: JSON, uid: str, generation: int | None = None) -> ReplicaOwner:
    """A ReplicaOwner from a defaulted RC or RS body; `generation` from the store wins."""
    meta: dict[str, Any] = body.get("metadata") or {}
    spec: dict[str, Any] = body.get("spec") or {}
    kind = str(body.get("kind", "ReplicationController"))
    template: JSON = spec.get("template") or {}
    if kind == "ReplicationController":
        # An RC without a selector selects its template's labels (RC defaulting).
        labels = spec.get("selector") or (template.get("metadata") or {}).get("labels") or {}
        selector = from_map({str(k): str(v) for k, v in labels.items()})
    else:
        selector = from_label_selector(spec.get("selector"))
    replicas = spec.get("replicas")
    return ReplicaOwner(
        kind=kind,
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name", "")),
        uid=uid,
        selector=selector,
        replicas=1 if replicas is None else int(replicas),
        template=template,
        generation=generation or int(meta.get("generation") or 1),
        min_ready_seconds=int(spec.get("minReadySeconds") or 0),
        api_version=str(body.get("apiVersion", "v1")),
    )


@dataclass(frozen=True)
class ReplicaStatus:
    """ReplicaSetStatus / ReplicationControllerStatus, as calculateStatus computes it."""

    replicas: int
    fully_labeled_replicas: int
    ready_replicas: int
    available_replicas: int
    observed_generation: int

    def to_json(self) -> JSON:
        """Kubernetes' field names, for `status` in the store and `-o yaml`."""
        return {
            "replicas": self.replicas,
            "fullyLabeledReplicas": self.fully_labeled_replicas,
            "readyReplicas": self.ready_replicas,
            "availableReplicas": self.available_replicas,
            "observedGeneration": self.observed_generation,
        }


@dataclass(frozen=True)
class ReplicaPlan:
    """What to do for one owner; empty buckets mean nothing to do."""

    adopt: tuple[PodRecord, ...]  # orphans to give our controller reference
    release: tuple[PodRecord, ...]  # ours, no longer selected: drop the reference
    create: int  # new pods from the template (already capped by the burst)
    delete: tuple[PodRecord, ...]  # excess active pods, in deletion order
    garbage: tuple[PodRecord, ...]  # our finished (Succeeded/Failed) pods, to remove
    status: ReplicaStatus
    synced: bool  # False: expectations pending, so no create or delete was planned
    requeue_after: timedelta | None = None  # minReadySeconds: availability changes later

    @property
    def create_batches(self) -> list[int]:
        """The slow-start batch sizes for `create`: stop at the first batch with a failure."""
        return slow_start_batches(self.create)

    @property
    def changes(self) -> bool:
        return bool(self.adopt or self.release or self.create or self.delete or self.garbage)


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """slowStartBatch's sizes: 1, 2, 4, ... until `count` is reached (10 -> 1, 2, 4, 3)."""
    batches: list[int] = []
    size = min(count, initial)
    remaining = count
    while size > 0:
        batches.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return batches


def is_active(pod: PodRecord) -> bool:
    """controller.IsPodActive: not finished and not being deleted."""
    return pod.phase not in ("Succeeded", "Failed") and pod.deletion_timestamp is None


def controller_of(pod: PodRecord) -> OwnerRef | None:
    """metav1.GetControllerOf: the owner reference marked as controller, if any."""
    return pod.owner if pod.owner is not None and pod.owner.controller else None


def is_available(pod: PodRecord, min_ready_seconds: int, now: datetime) -> bool:
    """podutil.IsPodAvailable: ready, and for longer than minReadySeconds."""
    if not pod.ready:
        return False
    if min_ready_seconds == 0:
        return True
    since = _ready_since(pod)
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def _ready_since(pod: PodRecord) -> datetime | None:
    for c in pod.conditions:
        if c.type == "Ready" and c.status:
            return c.last_transition
    return None


def _deletion_cost(pod: PodRecord) -> int:
    try:
        return int(pod.annotations.get(DELETION_COST_ANNOTATION, "0"))
    except ValueError:
        return 0


def deletion_order(pods: Sequence[PodRecord], related: Sequence[PodRecord]) -> list[PodRecord]:
    """ActivePodsWithRanks' order: the first pods are the first to delete.

    Unscheduled before scheduled, Pending before Unknown before Running, not ready
    before ready, lower pod-deletion-cost first, more of the owner's pods on the same
    node first, ready for less time first, more restarts first, newer first.
    """
    on_node = Counter(p.node_name for p in related if is_active(p))

    def key(p: PodRecord) -> tuple[Any, ...]:
        since = _ready_since(p) if p.ready else None
        ready_time = (0, 0.0) if since is None else (1, -since.timestamp())
        restarts = max((c.restart_count for c in p.containers), default=0)
        return (
            1 if p.node_name else 0,
            _PHASE_ORDINAL.get(p.phase, 0),
            1 if p.ready else 0,
            _deletion_cost(p),
            -on_node[p.node_name],
            ready_time if p.ready else (0, 0.0),
            -restarts,
            -p.created_at.timestamp(),
            p.uid,
        )

    return sorted(pods, key=key)


def calculate_status(
    owner: ReplicaOwner, active: Sequence[PodRecord], now: datetime
) -> ReplicaStatus:
    """calculateStatus over the owner's active pods."""
    template = from_map(owner.pod_labels)
    ready = [p for p in active if p.ready]
    return ReplicaStatus(
        replicas=len(active),
        fully_labeled_replicas=sum(1 for p in active if template.matches(p.labels)),
        ready_replicas=len(ready),
        available_replicas=sum(1 for p in ready if is_available(p, owner.min_ready_seconds, now)),
        observed_generation=owner.generation,
    )


def plan_replicas(
    owner: ReplicaOwner,
    pods: Sequence[PodRecord],
    expectations: ExpectationsView,
    now: datetime,
    burst: int = BURST_REPLICAS,
) -> ReplicaPlan:
    """The plan for `owner` given every pod of the store (other namespaces are ignored)."""
    adopt: list[PodRecord] = []
    release: list[PodRecord] = []
    owned: list[PodRecord] = []
    garbage: list[PodRecord] = []
    for pod in pods:
        if pod.namespace != owner.namespace:
            continue
        ref = controller_of(pod)
        if not is_active(pod):
            if ref is not None and ref.uid == owner.uid and pod.deletion_timestamp is None:
                garbage.append(pod)
            continue
        # ControllerRefManager.ClaimObject.
        matches = owner.selector.matches(pod.labels)
        if ref is not None:
            if ref.uid != owner.uid:
                continue
            if matches:
                owned.append(pod)
            else:
                release.append(pod)
        elif matches:
            adopt.append(pod)
    active = owned + adopt
    status = calculate_status(owner, active, now)
    requeue = None
    if (
        owner.min_ready_seconds > 0
        and status.ready_replicas == owner.replicas
        and status.available_replicas != owner.replicas
    ):
        requeue = timedelta(seconds=owner.min_ready_seconds)

    synced = expectations.satisfied(owner.key, now)
    create = 0
    delete: list[PodRecord] = []
    if synced:
        diff = len(active) - owner.replicas
        if diff < 0:
            create = min(-diff, burst)
        elif diff > 0:
            count = min(diff, burst)
            delete = deletion_order(active, active)[:count]
    return ReplicaPlan(
        adopt=tuple(sorted(adopt, key=lambda p: p.name)),
        release=tuple(sorted(release, key=lambda p: p.name)),
        create=create,
        delete=tuple(delete),
        garbage=tuple(sorted(garbage, key=lambda p: p.name)),
        status=status,
        synced=synced,
        requeue_after=requeue,
    )
