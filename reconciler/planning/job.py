"""plan_job: which pods a Job creates and deletes now, and its status, as plain data.

Called by the Job controller (`reconciler.control.jobs`) on each sync of a Job
key with the Job's pods (by owner uid) and the status it last wrote; it applies
the returned `JobPlan` (create one pod per entry, mark deletions, record
events, write status, remove the finished Job's pods once its TTL passed).
Mirrors pkg/controller/job/job_controller.go syncJob and manageJob: the Failed
condition on backoffLimit (failed pods, and with restartPolicy OnFailure the
restarts of active pods) or activeDeadlineSeconds, Complete when enough pods
succeeded (each index once in Indexed mode; any pod, the others done, without
completions), suspend deleting active pods, and new pods held back by the
pod-failure back-off (`job_status.Backoff`). Counts come from the pods, which
are kept until the Job finishes and its TTL passes; the status keeps the
highest count seen, so a pod removed behind the controller's back is neither
forgotten nor run again. Pods of another template (a changed manifest) are
deleted and the counts start over: a new run (docs/jobs.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from reconciler.api.records import PodRecord
from reconciler.planning.job_spec import (
    TEMPLATE_HASH_LABEL,
    JobSpec,
    finished_at,
    pod_index,
)
from reconciler.planning.job_status import JobCondition, JobStatus, backoff_of

# Kubernetes' MaxPodCreateDeletePerSync.
BURST = 500

EventType = Literal["Normal", "Warning"]


@dataclass
class JobPlan:
    """What the controller must do now."""

    create: list[int | None] = field(default_factory=list)  # one pod each: its index or None
    delete: list[PodRecord] = field(default_factory=list)
    status: JobStatus = field(default_factory=JobStatus)
    events: list[tuple[EventType, str, str]] = field(default_factory=list)
    requeue_after: timedelta | None = None
    expired: bool = False  # finished and past ttlSecondsAfterFinished: remove it

    def requeue(self, after: timedelta) -> None:
        after = max(after, timedelta(seconds=0.05))
        self.requeue_after = after if self.requeue_after is None else min(self.requeue_after,
                                                                           after)


def _newest_first(pods: Sequence[PodRecord]) -> list[PodRecord]:
    # controller.ActivePods: unscheduled, pending and not ready pods go first; newest first.
    return sorted(pods, key=lambda p: (bool(p.node_name), p.phase == "Running", p.ready,
                                       -p.created_at.timestamp(), p.name))


@dataclass
class _Pods:
    """The current run's pods by state."""

    active: list[PodRecord]
    succeeded: list[PodRecord]
    failed: list[PodRecord]
    terminating: list[PodRecord]


def _split(job: JobSpec, pods: Sequence[PodRecord], plan: JobPlan) -> _Pods:
    out = _Pods([], [], [], [])
    for pod in pods:
        if pod.labels.get(TEMPLATE_HASH_LABEL, job.hash) != job.hash:
            if pod.deletion_timestamp is None:
                plan.delete.append(pod)  # another template's run: it goes
            continue
        if pod.phase == "Succeeded":
            out.succeeded.append(pod)
        elif pod.phase == "Failed":
            out.failed.append(pod)
        elif pod.deletion_timestamp is not None:
            out.terminating.append(pod)
        else:
            out.active.append(pod)
    return out


def _restarts(pods: Sequence[PodRecord]) -> int:
    return sum(c.restart_count for p in pods for c in [*p.containers, *p.init_containers])


def _failure(job: JobSpec, st: JobStatus, split: _Pods, now: datetime) -> tuple[str, str] | None:
    """The reason and message the Job fails with now, or None."""
    if st.failed > job.backoff_limit:
        return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    if job.restart_policy == "OnFailure":
        # pastBackoffLimitOnFailure: restarts in place count as failures.
        restarts = _restarts(split.active)
        if (restarts > 0 if job.backoff_limit == 0 else restarts >= job.backoff_limit):
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    if (job.active_deadline is not None and st.start_time is not None
            and now - st.start_time >= timedelta(seconds=job.active_deadline)):
        return "DeadlineExceeded", "Job was active longer than specified deadline"
    return None


def _finished(job: JobSpec, st: JobStatus, plan: JobPlan, split: _Pods, now: datetime) -> None:
    """A finished Job: counts frozen; its leftover active pods go; the TTL runs."""
    done = st.finished
    assert done is not None
    plan.delete.extend(split.active)
    if job.ttl_after_finished is None:
        return
    ended = st.completion_time or done.at or now
    left = ended + timedelta(seconds=job.ttl_after_finished) - now
    if left <= timedelta(0):
        plan.expired = True
    else:
        plan.requeue(left)


def _counts(job: JobSpec, st: JobStatus, split: _Pods) -> JobStatus:
    if job.indexed:
        total = job.completions or 0
        done = {i for p in split.succeeded if (i := pod_index(p)) is not None and i < total}
        indexes = frozenset(done | {i for i in st.completed_indexes if i < total})
        return replace(st, completed_indexes=indexes, succeeded=len(indexes),
                       failed=max(st.failed, len(split.failed)), indexed=True)
    return replace(st, succeeded=max(st.succeeded, len(split.succeeded)),
                   failed=max(st.failed, len(split.failed)))


def _complete(job: JobSpec, st: JobStatus, split: _Pods) -> bool:
    if job.completions is None:
        return st.succeeded > 0 and not split.active
    return st.succeeded >= job.completions


def _manage(job: JobSpec, st: JobStatus, split: _Pods, plan: JobPlan, now: datetime) -> None:
    """manageJob: delete surplus active pods, or create up to the wanted count."""
    active = list(split.active)
    if job.indexed:
        total = job.completions or 0
        seen: set[int] = set()
        for pod in sorted(active, key=lambda p: (p.created_at, p.name)):
            i = pod_index(pod)
            # Out of range, a duplicate or a done index: not wanted (Kubernetes' Indexed rules).
            if i is None or i >= total or i in seen or i in st.completed_indexes:
                plan.delete.append(pod)
                active.remove(pod)
            else:
                seen.add(i)
    if job.completions is None:
        want = len(active) if st.succeeded > 0 else job.parallelism
    else:
        want = min(job.parallelism, max(0, job.completions - st.succeeded))
    # A pod being deleted still runs: it holds its slot until it is gone.
    held = len(active) + len(split.terminating)
    if len(active) > want:
        surplus = _newest_first(active)[:len(active) - want]
        plan.delete.extend(surplus)
        return
    room = min(want - held, BURST)
    if room <= 0:
        return
    wait = backoff_of(split.succeeded, split.failed).remaining(now)
    if wait > timedelta(0):
        plan.requeue(wait)
        return
    if job.indexed:
        busy = {pod_index(p) for p in active} | set(st.completed_indexes)
        free = [i for i in range(job.completions or 0) if i not in busy]
        plan.create.extend(free[:room])
    else:
        plan.create.extend([None] * room)


def _new_failures(prev: JobStatus, split: _Pods, job: JobSpec, now: datetime,
                  plan: JobPlan) -> None:
    """The back-off event for pods that failed since the last status (restartPolicy Never)."""
    if len(split.failed) <= prev.failed:
        return
    newest = sorted(split.failed, key=finished_at)[prev.failed:]
    back = backoff_of(split.succeeded, split.failed)
    for pod in newest:
        plan.events.append(("Warning", "BackOff",
                            f"Pod {pod.name} failed ({len(split.failed)} failed, backoffLimit "
                            f"{job.backoff_limit}); back-off {int(back.delay().total_seconds())}"
                            "s before new pods, unless a pod succeeds first"))


def plan_job(job: JobSpec, pods: Sequence[PodRecord], status: JobStatus,
             now: datetime) -> JobPlan:
    """What to do for one Job now, from its owned pods and the status last written."""
    plan = JobPlan()
    prev = status
    if prev.template_hash and prev.template_hash != job.hash:
        plan.events.append(("Normal", "TemplateChanged",
                            "The pod template changed: the Job runs again"))
        prev = JobStatus()
    split = _split(job, pods, plan)
    st = replace(prev, template_hash=job.hash, indexed=job.indexed)
    if st.finished is not None:
        _finished(job, st, plan, split, now)
        plan.status = replace(st, active=0, ready=0)
        return plan
    st = _counts(job, st, split)
    if st.start_time is None and not job.suspend:
        st = replace(st, start_time=now)
    _new_failures(prev, split, job, now, plan)
    failure = _failure(job, st, split, now)
    if failure is not None:
        reason, message = failure
        plan.delete.extend(split.active)
        st = st.with_condition(JobCondition("Failed", True, reason, message, now))
        plan.events.append(("Warning", reason, message))
        _finished(job, st, plan, replace(split, active=[]), now)
    elif _complete(job, st, split):
        plan.delete.extend(split.active)
        st = replace(st, completion_time=now).with_condition(
            JobCondition("Complete", True, "CompletionsReached",
                         "Reached expected number of succeeded pods", now))
        plan.events.append(("Normal", "Completed", "Job completed"))
        _finished(job, st, plan, replace(split, active=[]), now)
    elif job.suspend:
        plan.delete.extend(split.active)
        if st.condition("Suspended") is None:
            plan.events.append(("Normal", "Suspended", "Job suspended"))
        st = replace(st, start_time=None).with_condition(
            JobCondition("Suspended", True, "JobSuspended", "Job suspended", now))
    else:
        if st.condition("Suspended") is not None:
            plan.events.append(("Normal", "Resumed", "Job resumed"))
            st = replace(st, start_time=now).with_condition(
                JobCondition("Suspended", False, "JobResumed", "Job resumed", now))
        _manage(job, st, split, plan, now)
        if job.active_deadline is not None and st.start_time is not None:
            plan.requeue(st.start_time + timedelta(seconds=job.active_deadline) - now)
    gone = {p.uid for p in plan.delete}
    live = [p for p in split.active if p.uid not in gone]
    plan.status = replace(st, active=len(live) + len(plan.create),
                          ready=sum(1 for p in live if p.ready))
    return plan
