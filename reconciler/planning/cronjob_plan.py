"""The pure CronJob planner: given the spec, its Jobs, its status and now, what to do.

Kubernetes' cronjob_controllerv2.go `syncCronJob` and utils.go
`mostRecentScheduleTime`, as a function over plain data (`reconciler.planning.cronjob`
holds the model). It returns the Job to create (named after its scheduled time),
the Jobs to delete (Replace, and the finished ones beyond the history limits),
the events, the new status (active, lastScheduleTime, lastSuccessfulTime) and the
time of the next start, which the controller (`reconciler.control.cronjobs`)
hands to the service's scheduler as its next wake-up. Only the most recent
missed start is ever run, however long the service was down: at most one
catch-up run, and more than 100 missed starts is one warning, not a storm.

Differences from Kubernetes, on purpose: a scheduled Job that is not finished is
active whether or not the status listed it (a restart between writing the Job
and the status cannot make Forbid overlap), and a manual Job (`create job
--from`) is never active, replaced or a reason to wait, as there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from reconciler.api import cron
from reconciler.api.types import JSON
from reconciler.planning.cronjob import (
    COMPLETE,
    FAILED,
    FORBID,
    REPLACE,
    CronJobSpec,
    JobState,
    format_time,
    job_body,
    job_name,
    job_ref,
    parse_time,
)

MANY_MISSED = 100  # Kubernetes' limit: more missed starts than this is a warning


@dataclass(frozen=True)
class PlanEvent:
    """An event to record on the CronJob; `once` keys the ones to record once per start."""

    type: str
    reason: str
    message: str
    once: str = ""


@dataclass
class CronJobPlan:
    """What the controller does for one CronJob."""

    status: JSON
    create: JSON | None = None  # the Job's body
    scheduled: datetime | None = None  # the start it is for
    delete: list[str] = field(default_factory=list)  # Job names
    events: list[PlanEvent] = field(default_factory=list)
    next_wake: datetime | None = None  # the next start (None: suspended or no schedule)
    active: int = 0  # scheduled Jobs still running after this plan


def most_recent_schedule_time(sched: cron.Schedule, tz: tzinfo, earliest: datetime,
                              now: datetime) -> tuple[datetime | None, int]:
    """The latest start in (earliest, now] and roughly how many starts were in it.

    Kubernetes' estimate (the interval between the first two starts) keeps the cost
    flat after a long outage; a schedule with uneven gaps (weekdays only) is scanned
    again from further back until its latest start is found.
    """
    t1 = sched.next_after(earliest, tz)
    if t1 is None or now < t1:
        return None, 0
    t2 = sched.next_after(t1, tz)
    if t2 is None or now < t2:
        return t1, 1
    interval = max(1, round((t2 - t1).total_seconds()))
    missed = int((now - t1).total_seconds()) // interval + 1
    back = timedelta(seconds=interval * (missed - 2))
    step = timedelta(seconds=interval)
    while True:
        start = max(earliest, t1 + back)
        latest: datetime | None = None
        t: datetime | None = sched.next_after(start, tz)
        while t is not None and t <= now:
            latest = t
            t = sched.next_after(t, tz)
        if latest is not None or start <= earliest:
            return latest, missed
        back -= step
        step *= 2


def _start_order(job: JobState) -> tuple[datetime, str]:
    return (job.start_time or job.created_at, job.name)


def _history(jobs: list[JobState], limits: tuple[int, int]) -> list[JobState]:
    """The finished Jobs beyond the history limits, oldest first (cleanupFinishedJobs)."""
    out: list[JobState] = []
    for condition, limit in zip((COMPLETE, FAILED), limits, strict=True):
        done = sorted((j for j in jobs if j.finished == condition), key=_start_order)
        out += done[:max(0, len(done) - limit)]
    return out


def _status(cj: CronJobSpec, active: list[JobState], last_schedule: datetime | None,
            last_successful: datetime | None) -> JSON:
    status: JSON = {}
    if active:
        status["active"] = [job_ref(cj.namespace, j) for j in sorted(active, key=lambda j: j.name)]
    if last_schedule is not None:
        status["lastScheduleTime"] = format_time(last_schedule)
    if last_successful is not None:
        status["lastSuccessfulTime"] = format_time(last_successful)
    return status


def plan_cronjob(cj: CronJobSpec, jobs: list[JobState], status: JSON | None,
                 now: datetime) -> CronJobPlan:
    """The plan of one sync of a CronJob (see the module docstring)."""
    prev = status or {}
    events: list[PlanEvent] = []
    # By name, not uid: a Job's name is unique per start, and the entry of a Job this sync
    # creates has no uid yet (the store gives it one when written).
    known = {j.name for j in jobs}
    was_active = sorted(str(r.get("name")) for r in prev.get("active") or [])
    for j in jobs:
        if j.finished is not None and j.name in was_active:
            events.append(PlanEvent("Normal", "SawCompletedJob",
                                    f"Saw completed job: {j.name}, condition: {j.finished}"))
    for name in was_active:
        if name not in known:
            events.append(PlanEvent("Normal", "MissingJob", f"Active job went missing: {name}"))
    last_schedule = parse_time(prev.get("lastScheduleTime"))
    last_successful = parse_time(prev.get("lastSuccessfulTime"))
    for j in jobs:
        if j.finished == COMPLETE and j.completion_time is not None and (
                last_successful is None or j.completion_time > last_successful):
            last_successful = j.completion_time
    doomed = _history(jobs, (cj.successful_history, cj.failed_history))
    events += [PlanEvent("Normal", "SuccessfulDelete", f"Deleted job {j.name}")
               for j in doomed]
    active = [j for j in jobs if j.finished is None and not j.manual]
    plan = CronJobPlan(status={}, delete=[j.name for j in doomed], events=events)
    try:
        tz = cron.zone(cj.time_zone)
    except cron.CronError as e:
        events.append(PlanEvent("Warning", "UnknownTimeZone", f"invalid timeZone: {e}"))
        return _finish(plan, cj, active, last_schedule, last_successful)
    if cj.suspend:
        return _finish(plan, cj, active, last_schedule, last_successful)
    try:
        sched = cron.parse(cj.schedule)
    except cron.CronError as e:
        events.append(PlanEvent("Warning", "UnparseableSchedule",
                                f'unparseable schedule: "{cj.schedule}" : {e}'))
        return _finish(plan, cj, active, last_schedule, last_successful)
    earliest = last_schedule or cj.created_at
    if cj.starting_deadline_seconds is not None:
        earliest = max(earliest, now - timedelta(seconds=cj.starting_deadline_seconds))
    scheduled, missed = most_recent_schedule_time(sched, tz, earliest, now) \
        if earliest <= now else (None, 0)
    plan.next_wake = sched.next_after(now, tz)
    if plan.next_wake is None and scheduled is None:
        events.append(PlanEvent("Warning", "InvalidSchedule",
                                f"invalid schedule: {cj.schedule} : it never fires"))
    if scheduled is None:
        return _finish(plan, cj, active, last_schedule, last_successful)
    once = format_time(scheduled)
    if missed > MANY_MISSED:
        events.append(PlanEvent(
            "Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
            ".spec.startingDeadlineSeconds or check clock skew", once))
    name = job_name(cj.name, scheduled)
    deadline = cj.starting_deadline_seconds
    if deadline is not None and scheduled + timedelta(seconds=deadline) < now:
        events.append(PlanEvent("Warning", "MissSchedule", "Missed scheduled time to start "
                                f"a job: {scheduled.astimezone(UTC):%a, %d %b %Y %H:%M:%S +0000}",
                                once))
    elif any(j.name == name for j in jobs) or last_schedule == scheduled:
        # This start is already made; a restart between its Job and the status lost the
        # status's half, which is taken from the Job.
        if last_schedule is None or last_schedule < scheduled:
            last_schedule = scheduled
    elif cj.concurrency_policy == FORBID and active:
        events.append(PlanEvent("Normal", "JobAlreadyActive", "Not starting job because prior "
                                "execution is running and concurrency policy is Forbid", once))
    else:
        if cj.concurrency_policy == REPLACE:
            for j in active:
                if j.name not in plan.delete:
                    plan.delete.append(j.name)
                    events.append(PlanEvent("Normal", "SuccessfulDelete",
                                            f"Deleted job {j.name}"))
            active = []
        plan.create = job_body(cj, name, scheduled, tz)
        plan.scheduled = scheduled
        events.append(PlanEvent("Normal", "SuccessfulCreate", f"Created job {name}"))
        active = [*active, JobState(name, "", now)]
        last_schedule = scheduled
    return _finish(plan, cj, active, last_schedule, last_successful)


def _finish(plan: CronJobPlan, cj: CronJobSpec, active: list[JobState],
            last_schedule: datetime | None, last_successful: datetime | None) -> CronJobPlan:
    # The created Job's uid is the store's: its entry has the uid "" until the next sync.
    doomed = set(plan.delete)
    plan.active = sum(1 for j in active if j.name not in doomed)
    plan.status = _status(cj, [j for j in active if j.name not in doomed], last_schedule,
                          last_successful)
    return plan
