"""Job planning: completions, parallelism, back-off, deadline, suspend, Indexed mode, TTL."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import ContainerStatus, PodRecord
from reconciler.planning.job import JobPlan, plan_job
from reconciler.planning.job_spec import (
    CONTROLLER_UID_LABEL,
    INDEX_ANNOTATION,
    INDEX_ENV,
    JobSpec,
    job_from_body,
    pod_index,
)
from reconciler.planning.job_status import (
    Backoff,
    JobStatus,
    format_indexes,
    parse_indexes,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
UID = "job-uid"
_seq = itertools.count()


def job_body(**spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"template": {"metadata": {"labels": {"app": "batch"}},
                                      "spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "w", "image": "b:1"}]}}}
    s.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "work", "namespace": "default"}, "spec": s}


def make_job(**spec: Any) -> JobSpec:
    return job_from_body(job_body(**spec), UID, 1)


def pod(job: JobSpec, phase: str = "Running", index: int | None = None,
        ended: datetime | None = None, restarts: int = 0, at: datetime = T0) -> PodRecord:
    n = next(_seq)
    c = ContainerStatus("w", "b:1", state="terminated" if ended else "running",
                        finished_at=ended, restart_count=restarts)
    return PodRecord(
        uid=f"p{n}", namespace="default", name=f"work-{n:05d}", spec=job.pod_spec(index),
        spec_hash="h", created_at=at + timedelta(microseconds=n), labels=job.pod_labels(index),
        annotations=job.pod_annotations(index), owner=job.owner_ref, source="controller",
        node_name="n1", phase=phase, containers=[c])  # type: ignore[arg-type]


def done(job: JobSpec, n: int, phase: str = "Succeeded", at: datetime = T0) -> list[PodRecord]:
    return [pod(job, phase, ended=at) for _ in range(n)]


class TestSpec:
    def test_defaults_as_kubernetes(self) -> None:
        """Both unset: one completion, parallelism 1, backoffLimit 6, NonIndexed."""
        job = make_job()
        assert (job.completions, job.parallelism, job.backoff_limit, job.indexed) == (1, 1, 6,
                                                                                       False)

    def test_parallelism_alone_is_a_work_queue(self) -> None:
        """parallelism without completions: completions stays unset (a work queue)."""
        assert make_job(parallelism=3).completions is None

    def test_pods_carry_uid_name_and_index(self) -> None:
        """Pods carry the controller uid and job name labels; Indexed ones the index env."""
        job = make_job(completionMode="Indexed", completions=3)
        assert job.pod_labels(2)[CONTROLLER_UID_LABEL] == UID
        assert job.pod_annotations(2)[INDEX_ANNOTATION] == "2"
        env = job.pod_spec(2)["containers"][0]["env"]
        assert {"name": INDEX_ENV, "value": "2"} in env
        assert job.pod_base_name(2) == "work-2"


class TestPlan:
    def test_creates_up_to_parallelism(self) -> None:
        """5 completions, parallelism 2: two pods, a start time, active 2."""
        job = make_job(completions=5, parallelism=2)
        plan = plan_job(job, [], JobStatus(), T0)
        assert plan.create == [None, None]
        assert plan.status.active == 2 and plan.status.start_time == T0

    def test_never_more_than_remaining(self) -> None:
        """4 of 5 succeeded and parallelism 2: one pod more, not two."""
        job = make_job(completions=5, parallelism=2)
        plan = plan_job(job, done(job, 4), JobStatus(start_time=T0), T0)
        assert plan.create == [None]

    def test_completes_with_enough_successes(self) -> None:
        """5 succeeded pods: Complete, completionTime set, a Completed event, nothing created."""
        job = make_job(completions=5, parallelism=2)
        plan = plan_job(job, done(job, 5), JobStatus(start_time=T0), T0)
        assert plan.status.condition("Complete") is not None
        assert plan.status.completion_time == T0 and plan.status.succeeded == 5
        assert not plan.create and ("Normal", "Completed", "Job completed") in plan.events

    def test_failed_pod_waits_for_backoff_then_is_replaced(self) -> None:
        """A failed pod stays; its replacement waits 10 s, with a BackOff event."""
        job = make_job(completions=2, parallelism=1)
        failed = pod(job, "Failed", ended=T0)
        plan = plan_job(job, [failed], JobStatus(start_time=T0), T0 + timedelta(seconds=3))
        assert not plan.create and not plan.delete
        assert plan.requeue_after == timedelta(seconds=7)
        assert any(e[1] == "BackOff" for e in plan.events)
        later = plan_job(job, [failed], plan.status, T0 + timedelta(seconds=10))
        assert later.create == [None] and not any(e[1] == "BackOff" for e in later.events)

    def test_backoff_doubles_and_is_capped(self) -> None:
        """10 s, 20 s, 40 s ... after consecutive failures, never more than 6 minutes."""
        assert [Backoff(n, T0).delay().total_seconds() for n in (1, 2, 3, 9)] == [
            10, 20, 40, 360]

    def test_backoff_limit_fails_the_job(self) -> None:
        """More failed pods than backoffLimit: Failed with BackoffLimitExceeded, actives go."""
        job = make_job(completions=3, parallelism=2, backoffLimit=1)
        running = pod(job)
        plan = plan_job(job, [*done(job, 2, "Failed"), running], JobStatus(start_time=T0), T0)
        failed = plan.status.condition("Failed")
        assert failed is not None and failed.reason == "BackoffLimitExceeded"
        assert plan.delete == [running] and not plan.create

    def test_on_failure_restarts_count(self) -> None:
        """restartPolicy OnFailure: restarts in place count toward the backoffLimit."""
        body = job_body(backoffLimit=2)
        body["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
        job = job_from_body(body, UID, 1)
        assert plan_job(job, [pod(job, restarts=1)], JobStatus(start_time=T0),
                        T0).status.finished is None
        plan = plan_job(job, [pod(job, restarts=2)], JobStatus(start_time=T0), T0)
        assert plan.status.condition("Failed") is not None

    def test_deadline(self) -> None:
        """activeDeadlineSeconds: requeued for it, then Failed with DeadlineExceeded."""
        job = make_job(activeDeadlineSeconds=60)
        running = pod(job)
        early = plan_job(job, [running], JobStatus(start_time=T0), T0 + timedelta(seconds=20))
        assert early.requeue_after == timedelta(seconds=40)
        late = plan_job(job, [running], JobStatus(start_time=T0), T0 + timedelta(seconds=60))
        cond = late.status.condition("Failed")
        assert cond is not None and cond.reason == "DeadlineExceeded"
        assert late.delete == [running]

    def test_suspend_and_resume(self) -> None:
        """suspend deletes active pods and clears startTime; resuming starts over the clock."""
        job = make_job(parallelism=2, completions=4, suspend=True)
        running = pod(job)
        plan = plan_job(job, [running], JobStatus(start_time=T0), T0)
        assert plan.delete == [running] and plan.status.start_time is None
        assert plan.status.condition("Suspended") is not None
        resumed = plan_job(replace(job, suspend=False), [], plan.status, T0 + timedelta(1))
        assert resumed.create == [None, None]
        assert ("Normal", "Resumed", "Job resumed") in resumed.events

    def test_work_queue_completes_when_one_succeeded_and_others_ended(self) -> None:
        """No completions: no new pods after a success; Complete once the others ended."""
        job = make_job(parallelism=2)
        ok, running = pod(job, "Succeeded", ended=T0), pod(job)
        plan = plan_job(job, [ok, running], JobStatus(start_time=T0), T0)
        assert not plan.create and plan.status.finished is None
        ended = plan_job(job, [ok, pod(job, "Succeeded", ended=T0)], JobStatus(start_time=T0),
                         T0)
        assert ended.status.condition("Complete") is not None

    def test_changed_template_runs_again(self) -> None:
        """A finished Job whose template changed: old pods go, counts restart, new pods."""
        job = make_job(completions=1)
        old = done(job, 1)
        finished = plan_job(job, old, JobStatus(start_time=T0), T0).status
        body = job_body(completions=1)
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "b:2"
        new = job_from_body(body, UID, 2)
        plan = plan_job(new, old, finished, T0 + timedelta(minutes=1))
        assert plan.delete == old and plan.create == [None]
        assert plan.status.finished is None and plan.status.succeeded == 0

    def test_unchanged_finished_job_does_nothing(self) -> None:
        """A finished Job seen again (a restart, a resync): no pod is made or removed."""
        job = make_job(completions=2)
        pods = done(job, 2)
        status = plan_job(job, pods, JobStatus(start_time=T0), T0).status
        again = plan_job(job, [], status, T0 + timedelta(days=1))
        assert not again.create and not again.delete and again.status.succeeded == 2

    def test_ttl(self) -> None:
        """ttlSecondsAfterFinished: requeued until it passes, then expired."""
        job = make_job(ttlSecondsAfterFinished=30)
        status = plan_job(job, done(job, 1), JobStatus(start_time=T0), T0).status
        assert plan_job(job, [], status, T0 + timedelta(seconds=10)).requeue_after == \
            timedelta(seconds=20)
        assert plan_job(job, [], status, T0 + timedelta(seconds=30)).expired

    def test_surplus_after_parallelism_lowered(self) -> None:
        """Parallelism lowered from 3 to 1: the two newest active pods go."""
        job = make_job(completions=5, parallelism=1)
        pods = [pod(job, at=T0 + timedelta(seconds=i)) for i in range(3)]
        plan = plan_job(job, pods, JobStatus(start_time=T0), T0)
        assert sorted(p.name for p in plan.delete) == sorted(p.name for p in pods[1:])


class TestIndexed:
    def test_creates_free_indexes(self) -> None:
        """Indexed: the lowest indexes neither done nor running are created."""
        job = make_job(completionMode="Indexed", completions=4, parallelism=2)
        pods = [pod(job, "Succeeded", index=0, ended=T0), pod(job, index=1)]
        plan = plan_job(job, pods, JobStatus(start_time=T0), T0)
        assert plan.create == [2]
        assert plan.status.completed_indexes == {0}

    def test_duplicate_index_is_deleted(self) -> None:
        """Two active pods of one index: the younger goes."""
        job = make_job(completionMode="Indexed", completions=2, parallelism=2)
        a, b = pod(job, index=0), pod(job, index=0, at=T0 + timedelta(seconds=1))
        plan = plan_job(job, [a, b], JobStatus(start_time=T0), T0)
        assert plan.delete == [b] and plan.create == [1]

    @pytest.mark.parametrize(("indexes", "text"), [
        ([], ""), ([0], "0"), ([0, 1], "0,1"), ([0, 1, 2, 5], "0-2,5"),
        ([3, 1, 2, 7, 8, 9], "1-3,7-9"),
    ])
    def test_completed_indexes_text(self, indexes: list[int], text: str) -> None:
        """completedIndexes as Kubernetes writes it, and back."""
        assert format_indexes(indexes) == text
        assert parse_indexes(text) == set(indexes)

    def test_status_round_trip(self) -> None:
        """to_json then from_json gives the same status."""
        job = make_job(completionMode="Indexed", completions=3)
        status = plan_job(job, [pod(job, "Succeeded", index=1, ended=T0)], JobStatus(),
                          T0).status
        assert JobStatus.from_json(status.to_json()) == status


def _simulate(job: JobSpec, outcomes: list[bool]) -> tuple[
        JobStatus, list[PodRecord], int]:
    """Run the planner against a world where each new pod ends as `outcomes` says."""
    pods: list[PodRecord] = []
    status = JobStatus()
    now = T0
    draws = iter(outcomes)
    max_active = 0
    for _step in range(400):
        plan: JobPlan = plan_job(job, pods, status, now)
        status = plan.status
        gone = {p.uid for p in plan.delete}
        pods = [p for p in pods if p.uid not in gone or p.phase in ("Succeeded", "Failed")]
        pods += [pod(job, index=i, at=now) for i in plan.create]
        active = [p for p in pods if p.phase == "Running"]
        max_active = max(max_active, len(active))
        if status.finished is not None:
            break
        if active:
            p = active[0]
            ok = next(draws, True)
            p.phase = "Succeeded" if ok else "Failed"
            p.containers[0].finished_at = now
        now += timedelta(minutes=7)  # past any back-off
    return status, pods, max_active


class TestProperties:
    @settings(max_examples=150, deadline=None)
    @given(completions=st.integers(1, 8), parallelism=st.integers(1, 4),
           indexed=st.booleans(), outcomes=st.lists(st.booleans(), max_size=30),
           limit=st.integers(0, 6))
    def test_runs_to_an_end_within_bounds(self, completions: int, parallelism: int,
                                          indexed: bool, outcomes: list[bool],
                                          limit: int) -> None:
        """Never more than parallelism active; Complete with exactly `completions` successes
        (each index once) unless more than backoffLimit pods failed."""
        job = make_job(completions=completions, parallelism=parallelism, backoffLimit=limit,
                       completionMode="Indexed" if indexed else "NonIndexed")
        status, pods, max_active = _simulate(job, outcomes)
        assert max_active <= parallelism
        succeeded = [p for p in pods if p.phase == "Succeeded"]
        failed = [p for p in pods if p.phase == "Failed"]
        assert status.finished is not None
        if status.condition("Complete") is not None:
            assert len(succeeded) == completions and len(failed) <= limit
            if indexed:
                assert sorted(pod_index(p) or 0 for p in succeeded) == list(range(completions))
        else:
            assert len(failed) == limit + 1 and len(succeeded) < completions


Action = tuple[str, int]  # ("finish", 1 ok / 0 failed), ("parallelism", n), ("suspend", 0/1)


def _world(job: JobSpec, actions: list[Action]) -> tuple[JobStatus, list[PodRecord]]:
    """Pods die one step after deletion; the status goes through its JSON each step (as through
    the store and a restart); `actions` change the world or the Job between steps."""
    pods: list[PodRecord] = []
    status_json = JobStatus().to_json()
    now = T0
    todo = iter(actions)
    for _step in range(600):
        pods = [p for p in pods if p.deletion_timestamp is None
                or p.phase in ("Succeeded", "Failed")]
        plan = plan_job(job, pods, JobStatus.from_json(status_json), now)
        status_json = plan.status.to_json()
        for p in plan.delete:
            p.deletion_timestamp = now
        pods += [pod(job, index=i, at=now) for i in plan.create]
        running = [p for p in pods if p.phase == "Running"]
        live = [p for p in running if p.deletion_timestamp is None]
        assert len(live) <= (0 if job.suspend else job.parallelism), (len(live), job)
        if plan.create:
            assert len(running) <= job.parallelism, (len(running), job.parallelism)
        if plan.status.finished is not None:
            break
        action = next(todo, None)
        if action is None:  # the actions are over: let it run to its end
            job = replace(job, suspend=False, parallelism=max(1, job.parallelism))
            action = ("finish", 1)
        kind, value = action
        if kind == "parallelism":
            job = replace(job, parallelism=value)
        elif kind == "suspend":
            job = replace(job, suspend=bool(value))
        elif live:
            live[0].phase = "Succeeded" if value else "Failed"
            live[0].containers[0].finished_at = now
        now += timedelta(minutes=7)
    return JobStatus.from_json(status_json), pods


class TestWorldProperties:
    @settings(max_examples=150, deadline=None)
    @given(completions=st.integers(1, 6), parallelism=st.integers(1, 3), indexed=st.booleans(),
           limit=st.integers(0, 4),
           actions=st.lists(st.one_of(
               st.tuples(st.just("finish"), st.integers(0, 1)),
               st.tuples(st.just("parallelism"), st.integers(0, 4)),
               st.tuples(st.just("suspend"), st.integers(0, 1))), max_size=25))
    def test_parallelism_suspend_and_restarts(self, completions: int, parallelism: int,
                                              indexed: bool, limit: int,
                                              actions: list[Action]) -> None:
        """Parallelism changes, suspends and a status read back from JSON at every step: a pod
        is created only while fewer than parallelism run (terminating ones included), and the
        Job ends Complete with exactly `completions` successes, or Failed past backoffLimit."""
        job = make_job(completions=completions, parallelism=parallelism, backoffLimit=limit,
                       completionMode="Indexed" if indexed else "NonIndexed")
        status, pods = _world(job, actions)
        assert status.finished is not None
        succeeded = [p for p in pods if p.phase == "Succeeded"]
        failed = [p for p in pods if p.phase == "Failed"]
        if status.condition("Complete") is not None:
            assert len(succeeded) == completions == status.succeeded
            if indexed:
                assert sorted(pod_index(p) or 0 for p in succeeded) == list(range(completions))
        else:
            assert len(failed) == limit + 1 and len(succeeded) < completions
