"""The Job controller on a real store: pods written, counts from their status, the TTL
removing a controller-written (CronJob's) Job with its pods and keeping a declared one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.records import ContainerStatus, PodRecord
from reconciler.api.types import Key
from reconciler.control.context import Context, Settings
from reconciler.control.jobs import JOB, JobController, orphaned
from reconciler.control.loop import WorkKey
from reconciler.control.queue import WorkQueue
from reconciler.runtime.types import RuntimeConfig
from reconciler.store import Store
from tests.integration.control import harness
from tests.support.clock import ManualClock

KEY = Key("Job", "default", "nightly-29000000")
SOURCE = "controller:CronJob/default/nightly"


def body(ttl: int | None = 0, completions: int = 2) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "completions": completions, "parallelism": 2,
        "template": {"spec": {"restartPolicy": "OnFailure",
                              "containers": [{"name": "w", "image": "b:1"}]}}}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": KEY.name, "namespace": "default",
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                              "name": "nightly", "uid": "cj-uid",
                                              "controller": True}]},
            "spec": spec}


NODE = ("apiVersion: reconciler.dev/v1\nkind: Node\nmetadata: {name: a}\n"
        'spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}\n')
MANIFEST = """\
apiVersion: batch/v1
kind: Job
metadata: {name: report}
spec:
  ttlSecondsAfterFinished: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: w, image: "b:1"}]
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Store, JobController, ManualClock[datetime]]]:
    store = Store.open(str(tmp_path / "state.db"))
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    ctx = Context(store=store, queue=WorkQueue(), runtime=RuntimeConfig(), settings=Settings(),
                  clock=clock)
    yield store, JobController(ctx), clock
    store.close()


def finish(store: Store, pod: PodRecord, at: datetime, code: int = 0) -> None:
    pod.phase = "Succeeded" if code == 0 else "Failed"
    pod.containers = [ContainerStatus("w", "b:1", state="terminated", exit_code=code,
                                      finished_at=at)]
    assert store.patch_pod(pod, "status")


class TestJobController:
    def test_owned_job_runs_completes_and_goes_after_its_ttl(
        self, setup: tuple[Store, JobController, ManualClock[datetime]],
    ) -> None:
        """A CronJob's Job: two pods with the job labels and owner; both succeed: Complete;
        ttlSecondsAfterFinished 0: its record is removed and its pods marked deleted."""
        store, controller, clock = setup
        assert not store.write_owned(SOURCE, [(KEY, body())])
        controller.reconcile(WorkKey(JOB, KEY))
        pods = store.list_pods(namespace="default")
        assert len(pods) == 2
        job = store.get_object(KEY)
        assert job is not None
        for pod in pods:
            assert pod.owner is not None and pod.owner.uid == job.uid
            assert pod.labels["job-name"] == KEY.name
            assert pod.name.startswith(KEY.name + "-")
            assert pod.spec["restartPolicy"] == "OnFailure"
        assert (job.status or {})["active"] == 2
        clock.now += timedelta(seconds=5)
        for pod in pods:
            finish(store, pod, clock.now)
        controller.reconcile(WorkKey(JOB, KEY))
        assert store.get_object(KEY) is None
        assert all(p.deletion_timestamp is not None for p in store.list_pods(namespace="default"))
        store.flush_events()  # events are written apart, in batches (store/recorder.py)
        reasons = [e.reason for e in store.list_events("default", "Job", KEY.name)]
        assert "Completed" in reasons and "SuccessfulDelete" in reasons

    def test_pods_of_a_job_gone_meanwhile_are_collected(
        self, setup: tuple[Store, JobController, ManualClock[datetime]],
    ) -> None:
        """A Job record removed before its pods were marked (a crash, the service down): the
        resync names it, and its reconcile marks the pods deleted."""
        store, controller, _clock = setup
        assert not store.write_owned(SOURCE, [(KEY, body(ttl=None))])
        controller.reconcile(WorkKey(JOB, KEY))
        assert list(orphaned(controller.ctx, False)) == []
        store.write_owned(SOURCE, [], [KEY])
        assert list(orphaned(controller.ctx, False)) == [KEY]
        controller.reconcile(WorkKey(JOB, KEY))
        assert all(p.deletion_timestamp is not None for p in store.list_pods(namespace="default"))
        assert list(orphaned(controller.ctx, False)) == []

    def test_declared_job_keeps_its_record_after_the_ttl(self, tmp_path: Path) -> None:
        """A Job from a manifest, through the desired and Job controllers: after its TTL its
        pods go and its record and status stay, so the unchanged manifest never runs again."""
        cluster = harness.Cluster(tmp_path)
        try:
            cluster.write("nodes.yaml", NODE)
            cluster.write("job.yaml", MANIFEST)
            cluster.converge()
            key = Key("Job", "default", "report")
            [pod] = cluster.store.list_pods(namespace="default")
            assert pod.phase == "Running" and pod.labels["job-name"] == "report"
            finish(cluster.store, pod, datetime.now(UTC))
            controller = JobController(cluster.ctx)
            controller.reconcile(WorkKey(JOB, key))  # Complete; TTL 0: the pods go
            job = cluster.store.get_object(key)
            assert job is not None and (job.status or {})["succeeded"] == 1
            assert [p.deletion_timestamp is not None
                    for p in cluster.store.list_pods(namespace="default")] == [True]
            cluster.converge()
            assert cluster.store.list_pods(namespace="default") == []
            controller.reconcile(WorkKey(JOB, key))
            assert cluster.store.list_pods(namespace="default") == []  # no new run
            job = cluster.store.get_object(key)
            assert job is not None and (job.status or {})["succeeded"] == 1
        finally:
            cluster.store.close()
