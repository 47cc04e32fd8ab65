"""The replication controller: ReplicationControllers and ReplicaSets keep their pod count.

Keyed by the owner's Key. Mirrors Kubernetes' ReplicaSet controller: the pure
planner (`reconciler.planning.replicas.plan_replicas`) decides adoptions,
releases, how many pods to create and which to delete; this module writes the
pod records and the owner's status. Pods are created as records here and run
by the pod controller, so a slow Docker call cannot make this controller
create twice: it counts records, and expectations cover the records it asked
for until it has seen them. A deleted owner takes its pods with it (garbage
collection by owner reference). An owner annotated `reconciler.dev/suspend:
"true"` is left alone, as Flux's suspend.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import uuid
from collections.abc import Hashable
from datetime import datetime

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.control.cache import Cache
from reconciler.control.cache_records import copy_json, copy_pod
from reconciler.control.context import Context, suspended
from reconciler.control.desired import spec_hash
from reconciler.control.loop import Result, WorkKey
from reconciler.control.unchanged import Unchanged, inputs
from reconciler.planning.names import generate_name
from reconciler.planning.replicas import (
    ReplicaOwner,
    ReplicaPlan,
    owner_from_body,
    plan_replicas,
)
from reconciler.store.records import ObjectRecord

log = logging.getLogger(__name__)

SOURCE = "replication-controller"


def new_pod(owner: ReplicaOwner, taken: set[str], revision: str, now_: datetime) -> PodRecord:
    """A pod record from the owner's template, named `<owner>-<5 random>`."""
    name = generate_name(owner.name)
    while name in taken:
        name = generate_name(owner.name)
    taken.add(name)
    # A copy of its own: the owner (and its template) is kept between reconciles.
    spec = copy.deepcopy(owner.pod_spec)
    return PodRecord(
        uid=str(uuid.uuid4()),
        namespace=owner.namespace,
        name=name,
        spec=spec,
        spec_hash=spec_hash(spec),
        created_at=now_,
        labels=owner.pod_labels,
        annotations=owner.pod_annotations,
        owner=owner.owner_ref,
        source="controller",
        revision=revision,
    )


def _idle(plan: ReplicaPlan) -> bool:
    """The plan changed nothing and its outcome does not depend on the clock: with the
    same pods and owner the next reconcile would do the same nothing (see unchanged.py)."""
    status = plan.status
    return (plan.synced and not plan.create and not plan.delete and not plan.garbage
            and not plan.adopt and not plan.release and plan.requeue_after is None
            and status.available_replicas == status.ready_replicas)


class ReplicationController:
    """Reconciles one RC or RS; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # The parsed owner of each RC/RS body, by uid: parsed once per change of the
        # body (its content hash and generation), not on every reconcile.
        self._owners: dict[str, tuple[tuple[str, int], ReplicaOwner]] = {}
        self._owners_lock = threading.Lock()
        # Owners whose last reconcile had nothing to do, with the inputs it read.
        self._idle = Unchanged()

    def _owner(self, obj: ObjectRecord) -> ReplicaOwner:
        version = (obj.content_hash, obj.generation)
        with self._owners_lock:
            known = self._owners.get(obj.uid)
            if known is not None and known[0] == version:
                return known[1]
        # The body may be the cache's own record (read without a copy): the owner keeps
        # parts of it (the template, its labels) and hands them to new pods.
        owner = owner_from_body(copy_json(obj.body), obj.uid, obj.generation)
        with self._owners_lock:
            self._owners[obj.uid] = (version, owner)
        return owner

    def idle(self, id_: Hashable) -> bool:
        """True when reconciling `id_` now would do nothing: its inputs are those of its last
        reconcile that did nothing (the resync then leaves it out; see unchanged.py)."""
        cache = self.ctx.synced_cache
        if cache is None or not isinstance(id_, Key):
            return False
        at = cache.resource_version  # before anything is read: see Unchanged.same
        if self._idle.unchanged_since(id_, at):
            return True
        version = cache.version(id_)
        obj = cache.object(id_, copy=False)
        if obj is None or suspended(obj.body):
            return False
        seen = self._seen(cache, id_, version, self._owner(obj), self.ctx.clock())
        return seen is not None and self._idle.same(id_, seen, at)

    def forget_memos(self) -> None:
        """`reconciler sync`: every next reconcile runs in full (see unchanged.py)."""
        self._idle.forget_all()

    def _seen(self, cache: Cache, k: Key, version: int, owner: ReplicaOwner,
              now_: datetime) -> Hashable | None:
        """The inputs a reconcile of `k` reads, when the clock and expectations cannot change
        its outcome (None: they can, or may)."""
        if not self.ctx.expectations.satisfied(owner.key, now_):
            return None
        return version, inputs(cache, k, owner.selector, owner_uid=owner.uid)[1]

    def reconcile(self, key: WorkKey) -> Result:
        assert isinstance(key.id, Key)
        k = key.id
        ctx = self.ctx
        cache = ctx.synced_cache
        epoch = self._idle.begin()
        at = cache.resource_version if cache is not None else None
        version = cache.version(k) if cache is not None else 0
        # Only read here: the cache's own record (a copy of every body per resync was most
        # of a no-op pass); `_owner` copies what it keeps.
        obj = cache.object(k, copy=False) if cache is not None else ctx.store.get_object(k)
        if obj is None:
            self._idle.forget(k)
            return self._collect(k)
        if suspended(obj.body):
            return Result.done()
        owner = self._owner(obj)
        exp_key = owner.key
        now_ = ctx.clock()
        seen = self._seen(cache, k, version, owner, now_) if cache is not None else None
        if seen is not None and self._idle.same(k, seen):
            return Result.done()
        self._idle.forget(k)
        # The cache's own records: a copy of each of 1,000 pods was most of a resync's
        # reconcile of a large RC. Planning only reads them; what it writes is copied.
        pods = ctx.claimable_pods(k.namespace, owner.uid, owner.selector, copy=False)
        plan = _writable(plan_replicas(owner, pods, ctx.expectations, now_))
        ctx.set_owners(owner.owner_ref, plan.adopt, plan.release)

        if plan.create:
            self._create(obj.uid, owner, pods, plan.create_batches, now_)

        if plan.delete:
            ctx.expectations.expect_deletions(exp_key, [p.name for p in plan.delete], now_)
            for pod in plan.delete:
                pod.deletion_timestamp = now_
            try:
                ctx.store.patch_pods(plan.delete, ["deletion"])
            except Exception:
                # Never marked (a store error: busy, disk full): stop waiting for these
                # deletions, or the retry would wait out the expectations' timeout (5 min).
                for pod in plan.delete:
                    ctx.expectations.deletion_observed(exp_key, pod.name)
                raise
            for pod in plan.delete:
                ctx.enqueue_pod(pod.uid)
                ctx.event(
                    k.kind,
                    k.namespace,
                    k.name,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod.name}",
                    SOURCE,
                    uid=obj.uid,
                )

        for pod in plan.garbage:
            if pod.deletion_timestamp is None:
                pod.deletion_timestamp = now_
                ctx.store.patch_pod(pod, "deletion")
            ctx.enqueue_pod(pod.uid)

        status = plan.status.to_json()
        wrote = status != (obj.status or {})
        if wrote:
            ctx.store.set_status(k, status)
            self._wake_owner(obj)
        if seen is not None and not wrote and _idle(plan):
            self._idle.remember(k, seen, epoch, at)
        if plan.create or plan.delete or plan.requeue_after is not None:
            # Slow start: the next batch once this one is recorded; readiness may change
            # availability after minReadySeconds.
            return Result.after(plan.requeue_after.total_seconds() if plan.requeue_after else 0.0)
        return Result.done()

    def _wake_owner(self, obj: ObjectRecord) -> None:
        """A ReplicaSet's progress is its Deployment's: Kubernetes' deployment controller
        watches its ReplicaSets the same way."""
        from reconciler.control.registry import REGISTRY  # it imports this module

        for ref in (obj.body.get("metadata") or {}).get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("controller") and ref.get("kind"):
                REGISTRY.route(self.ctx, Key(str(ref["kind"]), obj.key.namespace,
                                             str(ref.get("name", ""))))

    def _create(
        self,
        uid: str,
        owner: ReplicaOwner,
        pods: list[PodRecord],
        batches: list[int],
        now_: datetime,
    ) -> None:
        """Create in slow-start batches (1, 2, 4, ...): a batch that fails stops the rest."""
        ctx = self.ctx
        taken = {p.name for p in pods}
        for size in batches:
            fresh = [new_pod(owner, taken, ctx.revision, now_) for _ in range(size)]
            ctx.expectations.expect_creations(owner.key, [p.name for p in fresh], now_)
            try:
                held = {(p.namespace, p.name) for p in ctx.store.create_pods(fresh)}
            except Exception:
                for pod in fresh:  # never created: stop waiting for them
                    ctx.expectations.creation_observed(owner.key, pod.name)
                raise
            for pod in [p for p in fresh if (p.namespace, p.name) in held]:
                # Another pod held the generated name first: it keeps it; the next sync
                # generates another (Kubernetes' generateName retries the same way).
                ctx.expectations.creation_observed(owner.key, pod.name)
                ctx.event(owner.kind, owner.namespace, owner.name, "Warning", "FailedCreate",
                          f'Error creating: pods "{pod.name}" already exists', SOURCE, uid=uid)
            fresh = [p for p in fresh if (p.namespace, p.name) not in held]
            for pod in fresh:
                ctx.expectations.creation_observed(owner.key, pod.name)
                ctx.enqueue_pod(pod.uid)
                ctx.event(
                    owner.kind,
                    owner.namespace,
                    owner.name,
                    "Normal",
                    "SuccessfulCreate",
                    f"Created pod: {pod.name}",
                    SOURCE,
                    uid=uid,
                )

    def _collect(self, k: Key) -> Result:
        """The owner is gone: delete the pods it controlled (garbage collection by owner)."""
        ctx = self.ctx
        ctx.collect_pods(k)
        ctx.expectations.forget(f"{k.kind}/{k.namespace}/{k.name}")
        return Result.done()


def _writable(plan: ReplicaPlan) -> ReplicaPlan:
    """The plan with copies of the pods it writes to (adopted, released, deleted, garbage):
    its pods may be the cache's own records, which only the store's write-through changes."""
    if not (plan.adopt or plan.release or plan.delete or plan.garbage):
        return plan
    return dataclasses.replace(
        plan, adopt=tuple(map(copy_pod, plan.adopt)), release=tuple(map(copy_pod, plan.release)),
        delete=tuple(map(copy_pod, plan.delete)), garbage=tuple(map(copy_pod, plan.garbage)))
