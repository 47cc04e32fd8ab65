"""The CronJob controller: makes a CronJob's Jobs at their scheduled times, removes old ones.

Keyed by the CronJob's Key under CRONJOB (registered in
`reconciler.control.registry`). The pure planner
(`reconciler.planning.cronjob_plan.plan_cronjob`) decides; this module reads the
CronJob and its Jobs (from the cache once synced), writes the Jobs as
controller-owned store objects (`Store.write_owned`, source
`controller:CronJob/<namespace>/<name>`, as the Deployment controller writes
ReplicaSets), wakes the Job controller for each Job it writes or deletes,
records the events and writes the status. The next start goes to the service's
scheduler (`reconciler.control.cronjobs_timers`), which only enqueues the key
then; without one (a test harness) the loop's delayed requeue stands in.

A Job's end reaches this controller from the Job controller (it wakes the owner
of a Job that finishes), by a poll while it has Jobs running (a safety net: a
start Forbid held back is due then), and by the resync.
A deleted CronJob takes its Jobs (and through them their pods) with it, also
when it was deleted while the service was down (`orphaned`).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable
from datetime import datetime, timedelta

from reconciler.api.types import Key
from reconciler.control.context import Context, suspended
from reconciler.control.cronjobs_timers import CronTimers
from reconciler.control.loop import Result, WorkKey
from reconciler.planning.cronjob import (
    JOB_KIND,
    KIND,
    CronJobSpec,
    JobState,
    cronjob_from_body,
    job_state,
    owned_source,
)
from reconciler.planning.cronjob_plan import CronJobPlan, plan_cronjob
from reconciler.planning.deployment import controller_ref

log = logging.getLogger(__name__)

CRONJOB = "cronjob"
SOURCE = "cronjob-controller"
# While a scheduled Job runs, look this often: its end may start a run Forbid held back.
ACTIVE_POLL = timedelta(seconds=5)
_ONCE_KEPT = 64  # per CronJob: the starts whose once-only events were recorded


class CronJobController:
    """Reconciles one CronJob; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.timers: CronTimers | None = None  # set by the service (cronjobs_timers)
        self._once: dict[Key, list[str]] = {}

    def reconcile(self, key: WorkKey) -> Result:
        assert isinstance(key.id, Key)
        k = key.id
        ctx = self.ctx
        obj = ctx.get_object(k)
        if obj is None:
            self._collect(k)
            return Result.done()
        if suspended(obj.body):
            return Result.done()
        cj = cronjob_from_body(obj.body, obj.uid, obj.created_at)
        now = ctx.clock()
        jobs, strays = self._jobs(cj)
        plan = plan_cronjob(cj, jobs, obj.status, now)
        self._apply(cj, plan, strays, now)
        if plan.status != (obj.status or {}):
            ctx.store.set_status(k, plan.status)
        return self._wake(k, plan, now)

    def _jobs(self, cj: CronJobSpec) -> tuple[list[JobState], list[Key]]:
        """Its Jobs, and the Jobs a previous CronJob of this name left (its owner is gone)."""
        source = owned_source(cj.namespace, cj.name)
        mine: list[JobState] = []
        strays: list[Key] = []
        for job in self.ctx.list_objects(JOB_KIND, cj.namespace):
            ref = controller_ref(job.body)
            if ref is not None and ref.get("kind") == KIND and ref.get("uid") == cj.uid:
                mine.append(job_state(job.key.name, job.uid, job.body, job.status,
                                      job.created_at))
            elif job.source_file == source:
                strays.append(job.key)
        return mine, strays

    def _apply(self, cj: CronJobSpec, plan: CronJobPlan, strays: list[Key],
               now: datetime) -> None:
        ctx = self.ctx
        upserts = []
        if plan.create is not None:
            upserts.append((Key(JOB_KIND, cj.namespace, plan.create["metadata"]["name"]),
                            plan.create))
        deletes = [Key(JOB_KIND, cj.namespace, n) for n in plan.delete] + strays
        if upserts or deletes:
            refused = ctx.store.write_owned(owned_source(cj.namespace, cj.name), upserts,
                                            deletes, now)
            for job_key in refused:
                self._event(cj, "Warning", "FailedCreate", f"Error creating job: a Job named "
                            f"{job_key.name} is declared in a manifest")
            for job_key, _ in upserts:
                if job_key not in refused:
                    self._fill_uid(plan, job_key)
            _route(ctx, [k for k, _ in upserts] + deletes)
        k = Key(KIND, cj.namespace, cj.name)
        seen = self._once.setdefault(k, [])
        for ev in plan.events:
            if ev.once:
                tag = f"{ev.reason}@{ev.once}"
                if tag in seen:
                    continue  # said at this start already: a poll repeats no event
                seen.append(tag)
                del seen[:-_ONCE_KEPT]
            self._event(cj, ev.type, ev.reason, ev.message)

    def _fill_uid(self, plan: CronJobPlan, job_key: Key) -> None:
        job = self.ctx.store.get_object(job_key)
        if job is None:
            return
        for ref in plan.status.get("active") or []:
            if ref.get("name") == job_key.name and not ref.get("uid"):
                ref["uid"] = job.uid

    def _wake(self, k: Key, plan: CronJobPlan, now: datetime) -> Result:
        waits: list[timedelta] = [ACTIVE_POLL] if plan.active else []
        if plan.next_wake is None:
            if self.timers is not None:
                self.timers.cancel(k)
        elif self.timers is not None:
            self.timers.wake_at(k, plan.next_wake)
        else:
            waits.append(plan.next_wake - now + timedelta(milliseconds=100))
        return Result.after(max(0.1, min(waits).total_seconds())) if waits else Result.done()

    def _event(self, cj: CronJobSpec, type_: str, reason: str, message: str) -> None:
        self.ctx.event(KIND, cj.namespace, cj.name, "Warning" if type_ == "Warning" else "Normal",
                       reason, message, SOURCE, uid=cj.uid)

    def _collect(self, k: Key) -> None:
        """The CronJob is gone: no more wake-ups; its Jobs go, and their pods with them."""
        ctx = self.ctx
        if self.timers is not None:
            self.timers.cancel(k)
        self._once.pop(k, None)
        source = owned_source(k.namespace, k.name)
        keys = ctx.store.owned_objects(source)
        if keys:
            ctx.store.write_owned(source, [], keys, ctx.clock())
            _route(ctx, keys)


def _route(ctx: Context, keys: Iterable[Key]) -> None:
    # The Job controller's name is the registry's; it imports this module, hence the late import.
    from reconciler.control.registry import REGISTRY

    for key in keys:
        REGISTRY.route(ctx, key)


def orphaned(ctx: Context, all_pods: bool) -> Iterable[Hashable]:
    """The registry's resync of this controller: CronJobs gone whose Jobs remain (deleted
    while the service was down); their reconcile collects the Jobs."""
    jobs = ctx.list_objects(JOB_KIND)
    prefix = owned_source("", "").rsplit("/", 2)[0] + "/"
    out: set[Key] = set()
    for job in jobs:
        if job.source_file.startswith(prefix):
            namespace, name = job.source_file[len(prefix):].split("/", 1)
            owner = Key(KIND, namespace, name)
            if ctx.get_object(owner) is None:
                out.add(owner)
    return sorted(out)
