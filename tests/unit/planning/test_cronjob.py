"""CronJob planning with a fake clock: starts, concurrency policies, missed starts, history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api import cron
from reconciler.planning.cronjob import (
    COMPLETE,
    FAILED,
    INSTANTIATE_ANNOTATION,
    SCHEDULED_ANNOTATION,
    CronJobSpec,
    JobState,
    cronjob_from_body,
    job_name,
)
from reconciler.planning.cronjob_plan import (
    CronJobPlan,
    most_recent_schedule_time,
    plan_cronjob,
)

T0 = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)  # a Monday, half a minute past


def spec(schedule: str = "* * * * *", **fields: Any) -> CronJobSpec:
    body = {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "default"},
            "spec": {"schedule": schedule, **fields,
                     "jobTemplate": {"metadata": {"labels": {"app": "tick"},
                                                  "annotations": {"a": "b"}},
                                     "spec": {"template": {"spec": {
                                         "restartPolicy": "Never",
                                         "containers": [{"name": "c", "image": "x:1"}]}}}}}}
    return cronjob_from_body(body, "cj-uid", T0)


@dataclass
class Run:
    """One Job in the simulation: when it started, when it ends (done or deleted)."""

    name: str
    start: datetime
    ends: datetime
    deleted: datetime | None = None

    def end(self) -> datetime:
        return min(self.ends, self.deleted) if self.deleted else self.ends


@dataclass
class Sim:
    """The controller's loop over a fake clock: plan, then apply creates and deletes."""

    cj: CronJobSpec
    duration: timedelta
    runs: dict[str, Run] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    plans: list[tuple[datetime, CronJobPlan]] = field(default_factory=list)

    def states(self, now: datetime) -> list[JobState]:
        return [JobState(r.name, "uid-" + r.name, r.start,
                         COMPLETE if r.ends <= now else None, r.start,
                         r.ends if r.ends <= now else None)
                for r in self.runs.values() if r.deleted is None]

    def sync(self, now: datetime) -> CronJobPlan:
        plan = plan_cronjob(self.cj, self.states(now), self.status, now)
        for name in plan.delete:
            self.runs[name].deleted = now
        if plan.create is not None:
            name = plan.create["metadata"]["name"]
            assert name not in self.runs, "a start made twice"
            self.runs[name] = Run(name, now, now + self.duration)
        self.status = plan.status
        self.plans.append((now, plan))
        return plan

    def overlaps(self) -> int:
        """The most Jobs running at one moment."""
        edges = sorted([(r.start, 1) for r in self.runs.values()]
                       + [(r.end(), -1) for r in self.runs.values()])
        most = running = 0
        for _, d in edges:
            running += d
            most = max(most, running)
        return most


steps = st.lists(st.integers(1, 75), min_size=20, max_size=60)


class TestPolicies:
    """Forbid never overlaps, Replace keeps one, Allow starts every minute (property tests)."""

    @settings(max_examples=60, deadline=None)
    @given(steps=steps, seconds=st.integers(10, 200))
    def test_forbid_never_overlaps(self, steps: list[int], seconds: int) -> None:
        """Under Forbid, whatever the job length and the sync times, no two Jobs run at once."""
        sim = Sim(spec(concurrencyPolicy="Forbid"), timedelta(seconds=seconds))
        now = T0
        for s in steps:
            now += timedelta(seconds=s)
            sim.sync(now)
        assert sim.overlaps() <= 1

    @settings(max_examples=60, deadline=None)
    @given(steps=steps, seconds=st.integers(10, 200))
    def test_replace_keeps_one(self, steps: list[int], seconds: int) -> None:
        """Under Replace, each start deletes the running Job: never more than one active."""
        sim = Sim(spec(concurrencyPolicy="Replace"), timedelta(seconds=seconds))
        now = T0
        for s in steps:
            now += timedelta(seconds=s)
            plan = sim.sync(now)
            assert plan.active <= 1
        assert sim.overlaps() <= 1

    @settings(max_examples=40, deadline=None)
    @given(steps=steps)
    def test_starts_are_schedule_times(self, steps: list[int]) -> None:
        """Every Job is named after a scheduled minute at or before its creation, once."""
        sim = Sim(spec("*/2 * * * *"), timedelta(seconds=30))
        now = T0
        for s in steps:
            now += timedelta(seconds=s)
            plan = sim.sync(now)
            if plan.create is not None:
                assert plan.scheduled is not None and plan.scheduled <= now
                assert plan.scheduled.minute % 2 == 0
                assert plan.create["metadata"]["name"] == job_name("tick", plan.scheduled)

    def test_allow_overlaps(self) -> None:
        """Allow starts each minute's Job while the last one still runs."""
        sim = Sim(spec(), timedelta(seconds=150))
        for m in range(1, 5):
            sim.sync(T0 + timedelta(minutes=m))
        assert sim.overlaps() == 3

    def test_forbid_starts_the_held_run_when_the_job_ends(self) -> None:
        """A start Forbid held back runs once the Job ends (Kubernetes' documented behaviour)."""
        sim = Sim(spec(concurrencyPolicy="Forbid"), timedelta(seconds=90))
        first = sim.sync(T0 + timedelta(seconds=31))  # 10:01:01
        assert first.create is not None
        held = sim.sync(T0 + timedelta(seconds=91))  # 10:02:01, the first still runs
        assert held.create is None
        assert [e.reason for e in held.events] == ["JobAlreadyActive"]
        late = sim.sync(T0 + timedelta(seconds=125))  # 10:02:35: the first ended at 10:02:31
        assert late.create is not None and late.scheduled == datetime(2026, 3, 2, 10, 2,
                                                                      tzinfo=UTC)


class TestMissedStarts:
    """After downtime: at most one catch-up run; more than 100 missed is one warning."""

    @settings(max_examples=60, deadline=None)
    @given(down=st.integers(60, 4 * 3600), policy=st.sampled_from(["Allow", "Forbid",
                                                                    "Replace"]))
    def test_at_most_one_catch_up(self, down: int, policy: str) -> None:
        """A service down for any time starts one Job for the missed minutes, not one each."""
        sim = Sim(spec(concurrencyPolicy=policy), timedelta(seconds=20))
        sim.sync(T0 + timedelta(seconds=31))
        back = T0 + timedelta(seconds=31 + down)
        plans = [sim.sync(back + timedelta(seconds=s)) for s in (0, 1, 5, 9)]
        caught_up = [p for p in plans if p.scheduled is not None and p.scheduled <= back]
        assert len(caught_up) == 1  # the latest missed start; later Jobs are new minutes

    def test_three_minutes_down(self) -> None:
        """Down from 10:01:10 to 10:04:20: one Job, for 10:04, and the next wake is 10:05."""
        sim = Sim(spec(), timedelta(seconds=20))
        sim.sync(T0 + timedelta(seconds=40))  # 10:01:10 makes 10:01
        plan = sim.sync(datetime(2026, 3, 2, 10, 4, 20, tzinfo=UTC))
        assert plan.scheduled == datetime(2026, 3, 2, 10, 4, tzinfo=UTC)
        assert plan.next_wake == datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
        assert sorted(sim.runs) == [job_name("tick", datetime(2026, 3, 2, 10, m, tzinfo=UTC))
                                    for m in (1, 4)]

    def test_too_many_missed(self) -> None:
        """Three hours of a minute schedule missed: one warning, one Job (the latest start)."""
        now = T0 + timedelta(hours=3)
        plan = plan_cronjob(spec(), [], {}, now)
        reasons = [e.reason for e in plan.events]
        assert reasons == ["TooManyMissedTimes", "SuccessfulCreate"]
        assert plan.scheduled == now.replace(second=0)

    def test_starting_deadline_bounds_the_look_back(self) -> None:
        """startingDeadlineSeconds: a start older than the deadline is not run, nor warned
        about as too many."""
        sim = Sim(spec("0 * * * *", startingDeadlineSeconds=60), timedelta(seconds=5))
        plan = sim.sync(T0 + timedelta(minutes=3))  # 10:03:30; 10:00 is 3.5 min old
        assert plan.create is None and plan.events == []
        assert plan.next_wake == datetime(2026, 3, 2, 11, tzinfo=UTC)

    def test_late_start_within_the_deadline(self) -> None:
        """A start found 8 s late with a 10 s deadline still runs; 12 s late it does not."""
        cj = spec(startingDeadlineSeconds=10)
        last = {"lastScheduleTime": "2026-03-02T10:00:00Z"}
        plan = plan_cronjob(cj, [], last, datetime(2026, 3, 2, 10, 1, 8, tzinfo=UTC))
        assert plan.scheduled == datetime(2026, 3, 2, 10, 1, tzinfo=UTC)
        late = plan_cronjob(cj, [], last, datetime(2026, 3, 2, 10, 1, 12, tzinfo=UTC))
        assert late.create is None

    def test_irregular_schedule_after_a_long_gap(self) -> None:
        """Weekday mornings over a weekend: the latest start is Friday's, found again."""
        s = cron.parse("30 6-16/4 * * 1-5")
        earliest = datetime(2026, 2, 20, 7, tzinfo=UTC)  # a Friday
        latest, missed = most_recent_schedule_time(
            s, UTC, earliest, datetime(2026, 2, 23, 6, tzinfo=UTC))  # Monday, before 06:30
        assert latest == datetime(2026, 2, 20, 14, 30, tzinfo=UTC)
        assert missed >= 2


class TestJobsAndStatus:
    """The Job body, status, history limits, suspend, manual runs, bad input."""

    def test_job_body(self) -> None:
        """The Job carries the template's labels, annotations, the scheduled time, an owner."""
        plan = plan_cronjob(spec(), [], {}, T0 + timedelta(minutes=1))
        body = plan.create
        assert body is not None
        meta = body["metadata"]
        minutes = int(datetime(2026, 3, 2, 10, 1, tzinfo=UTC).timestamp()) // 60
        assert meta["name"] == f"tick-{minutes}"
        assert meta["labels"] == {"app": "tick"}
        assert meta["annotations"]["a"] == "b"
        assert meta["annotations"][SCHEDULED_ANNOTATION] == "2026-03-02T10:01:00+00:00"
        assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob",
                                            "name": "tick", "uid": "cj-uid",
                                            "controller": True, "blockOwnerDeletion": True}]
        assert body["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert plan.status["lastScheduleTime"] == "2026-03-02T10:01:00Z"
        assert [r["name"] for r in plan.status["active"]] == [meta["name"]]

    def test_history_limits(self) -> None:
        """Finished Jobs beyond 3 successful and 1 failed are deleted, oldest first."""
        def job(i: int, cond: str) -> JobState:
            t = T0 - timedelta(minutes=10 - i)
            return JobState(f"j{i}", f"u{i}", t, cond, t, t + timedelta(seconds=5))
        jobs = [job(i, COMPLETE) for i in range(5)] + [job(i, FAILED) for i in range(5, 8)]
        plan = plan_cronjob(spec(suspend=True), jobs, {}, T0)
        assert plan.delete == ["j0", "j1", "j5", "j6"]
        assert plan.status["lastSuccessfulTime"] == "2026-03-02T09:54:35Z"

    def test_saw_completed_and_missing(self) -> None:
        """A listed active Job that finished or vanished is reported and leaves the list."""
        status = {"active": [{"name": "a", "uid": "ua"}, {"name": "b", "uid": "ub"}]}
        done = JobState("a", "ua", T0, COMPLETE, T0, T0)
        plan = plan_cronjob(spec(suspend=True), [done], status, T0 + timedelta(seconds=1))
        assert [e.reason for e in plan.events] == ["SawCompletedJob", "MissingJob"]
        assert "active" not in plan.status

    def test_restart_between_the_job_and_the_status(self) -> None:
        """The Job of a start written, the status not (a crash): no second Job for that start;
        the Job counts as active, so Forbid holds the next minute back."""
        start = datetime(2026, 3, 2, 10, 1, tzinfo=UTC)
        written = JobState(job_name("tick", start), "u1", start, None, start, None)
        plan = plan_cronjob(spec(concurrencyPolicy="Forbid"), [written], {},
                            start + timedelta(seconds=20))
        assert plan.create is None
        assert [r["name"] for r in plan.status["active"]] == [written.name]
        assert plan.status["lastScheduleTime"] == "2026-03-02T10:01:00Z"
        held = plan_cronjob(spec(concurrencyPolicy="Forbid"), [written], plan.status,
                            start + timedelta(seconds=65))
        assert held.create is None and [e.reason for e in held.events] == ["JobAlreadyActive"]

    def test_suspend(self) -> None:
        """A suspended CronJob starts nothing and has no wake-up."""
        plan = plan_cronjob(spec(suspend=True), [], {}, T0 + timedelta(hours=1))
        assert plan.create is None and plan.next_wake is None

    def test_manual_job_is_not_active(self) -> None:
        """A `create job --from` run neither blocks Forbid nor is replaced."""
        manual = JobState("tick-manual", "um", T0, None, T0, None, manual=True)
        plan = plan_cronjob(spec(concurrencyPolicy="Replace"), [manual], {},
                            T0 + timedelta(minutes=1))
        assert plan.create is not None and plan.delete == []
        assert INSTANTIATE_ANNOTATION not in plan.create["metadata"].get("annotations", {})

    @pytest.mark.parametrize(("fields", "reason"), [
        ({"timeZone": "Mars/Olympus"}, "UnknownTimeZone"),
        ({"schedule": "61 * * * *"}, "UnparseableSchedule"),
    ])
    def test_bad_input_is_an_event(self, fields: dict[str, Any], reason: str) -> None:
        """A stored CronJob with a bad zone or schedule gets a warning and no Job."""
        cj = spec(**{k: v for k, v in fields.items() if k != "schedule"})
        if "schedule" in fields:
            cj = spec(fields["schedule"])
        plan = plan_cronjob(cj, [], {}, T0 + timedelta(minutes=5))
        assert plan.create is None
        assert [(e.type, e.reason) for e in plan.events] == [("Warning", reason)]

    def test_time_zone(self) -> None:
        """A schedule in a zone starts at that zone's wall time."""
        cj = spec("0 12 * * *", timeZone="Asia/Tokyo")
        plan = plan_cronjob(cj, [], {}, T0)
        assert plan.next_wake == datetime(2026, 3, 3, 3, tzinfo=UTC)  # 12:00 JST
