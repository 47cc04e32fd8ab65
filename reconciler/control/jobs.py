"""The Job controller: run a Job's pods to completion, with back-off, deadline and TTL.

Keyed by the Job's Key under JOB. Mirrors Kubernetes' Job controller: the pure
planner (`reconciler.planning.job.plan_job`) decides from the Job's pods (by
owner uid) and the status last written which pods to create and delete; this
module writes the pod records (named `<job>-xxxxx`, `<job>-<index>-xxxxx` in
Indexed mode, labelled with the controller uid and job name, owned by the
Job), marks deletions, records events and writes the status. Pod records are
written synchronously, so the next sync sees them (no expectations), and a
restart of the service reads the same records: a pod is never made twice.
Finished pods stay (for `reconciler logs`) until ttlSecondsAfterFinished
passes; then they go, and a Job another controller wrote (a CronJob's) goes
with them, while a Job a manifest declares keeps its record and status, so an
unchanged manifest never runs again (docs/jobs.md). A Job that finishes wakes
its controlling owner (a CronJob) through the registry. A deleted Job takes its
pods with it, also when it went while the service was down (`orphaned`). An
owner annotated `reconciler.dev/suspend: "true"` is left alone, as in the other
controllers; `spec.suspend` is the Job's own pause.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Hashable, Iterable
from dataclasses import replace

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.control.cache_records import BY_OWNER
from reconciler.control.context import Context, suspended
from reconciler.control.desired import spec_hash
from reconciler.control.loop import Result, WorkKey
from reconciler.control.podwrites import create_pods, delete_pods, fresh_name
from reconciler.planning.diff import OWNED_SOURCE_PREFIX
from reconciler.planning.job import JobPlan, plan_job
from reconciler.planning.job_spec import KIND, JobSpec, job_from_body
from reconciler.planning.job_status import JobStatus
from reconciler.store.records import ObjectRecord

log = logging.getLogger(__name__)

JOB = "job"
SOURCE = "job-controller"


class JobController:
    """Reconciles one Job; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

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
        # The key names it: a body another controller wrote may leave its namespace out.
        job = replace(job_from_body(obj.body, obj.uid, obj.generation), namespace=k.namespace,
                      name=k.name)
        cache = ctx.synced_cache
        pods = cache.pods(k.namespace, owner_uid=obj.uid) if cache is not None \
            else ctx.store.list_pods(namespace=k.namespace, owner_uid=obj.uid)
        now_ = ctx.clock()
        plan = plan_job(job, pods, JobStatus.from_json(obj.status), now_)

        if plan.delete:
            self._delete(job, plan.delete)
        if plan.create:
            self._create(job, plan, {p.name for p in pods})
        for type_, reason, message in plan.events:
            self._event(job, type_, reason, message)
        status = plan.status.to_json()
        if status != (obj.status or {}):
            ctx.store.set_status(k, status)
            if plan.status.finished is not None and \
                    JobStatus.from_json(obj.status).finished is None:
                self._wake_owner(obj)
        if plan.expired:
            self._expire(job, obj, pods)
            return Result.done()
        if plan.create or plan.delete:
            return Result.after(0.0)  # the next sync sees these records
        if plan.requeue_after is not None:
            return Result.after(plan.requeue_after.total_seconds())
        return Result.done()

    def _delete(self, job: JobSpec, doomed: list[PodRecord]) -> None:
        delete_pods(self.ctx, doomed, lambda *e: self._event(job, *e))

    def _create(self, job: JobSpec, plan: JobPlan, taken: set[str]) -> None:
        ctx = self.ctx
        now_ = ctx.clock()
        fresh: list[PodRecord] = []
        for index in plan.create:
            spec = job.pod_spec(index)
            fresh.append(PodRecord(
                uid=str(uuid.uuid4()), namespace=job.namespace,
                name=fresh_name(job.pod_base_name(index), taken), spec=spec,
                spec_hash=spec_hash(spec), created_at=now_, labels=job.pod_labels(index),
                annotations=job.pod_annotations(index), owner=job.owner_ref,
                source="controller", revision=ctx.revision))
        create_pods(ctx, fresh, lambda *e: self._event(job, *e))

    def _expire(self, job: JobSpec, obj: ObjectRecord, pods: list[PodRecord]) -> None:
        """ttlSecondsAfterFinished passed: the pods go; a controller-written Job goes too."""
        ctx = self.ctx
        live = [p for p in pods if p.deletion_timestamp is None]
        if live:
            self._delete(job, live)
        if obj.source_file.startswith(OWNED_SOURCE_PREFIX):
            ctx.store.write_owned(obj.source_file, [], [obj.key])
            log.info("Job %s/%s removed: its TTL passed", job.namespace, job.name)

    def _wake_owner(self, obj: ObjectRecord) -> None:
        """The Job finished: its controlling owner (a CronJob) hears it now, not at a poll."""
        # The registry imports this module, hence the late import.
        from reconciler.control.registry import REGISTRY

        for ref in (obj.body.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") and ref.get("name"):
                REGISTRY.route(self.ctx, Key(str(ref["kind"]), obj.key.namespace,
                                             str(ref["name"])))

    def _event(self, job: JobSpec, type_: str, reason: str, message: str) -> None:
        self.ctx.event(KIND, job.namespace, job.name, "Warning" if type_ == "Warning" else "Normal",
                       reason, message, SOURCE, uid=job.uid)


def orphaned(ctx: Context, all_pods: bool) -> Iterable[Hashable]:
    """The registry's resync of this controller: Jobs gone whose pods remain (the service
    stopped or crashed between removing the record and marking the pods); their reconcile
    collects the pods, as Kubernetes' garbage collector would."""
    cache = ctx.synced_cache
    if cache is not None:
        pods = [p for uid in cache.pod_index_values(BY_OWNER) if cache.object_by_uid(uid) is None
                for p in [cache.pod(next(iter(cache.pod_index_keys(BY_OWNER, uid)), ""))]
                if p is not None]
    else:
        uids = {o.uid for o in ctx.store.objects(kind=KIND)}
        pods = [p for p in ctx.store.list_pods(containers=False)
                if p.owner is not None and p.owner.uid not in uids]
    return sorted({Key(KIND, p.namespace, p.owner.name) for p in pods
                   if p.owner is not None and p.owner.kind == KIND
                   and p.deletion_timestamp is None})
