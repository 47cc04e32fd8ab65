"""The CronJob controller on a real store with every registered controller: a start makes a
Job the Job controller runs; a removed CronJob takes its Jobs and their pods, also when it
went while the service was down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.api.types import Key
from reconciler.control.cronjobs import CRONJOB, orphaned
from reconciler.control.loop import WorkKey
from reconciler.planning.cronjob import owned_source
from tests.integration.control import harness
from tests.support.clock import ManualClock

NODE = ("apiVersion: reconciler.dev/v1\nkind: Node\nmetadata: {name: a}\n"
        'spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}\n')
CRONJOB_YAML = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    metadata: {labels: {app: tick}}
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: w, image: "b:1"}]
"""
KEY = Key("CronJob", "default", "tick")


def start(tmp_path: Path) -> tuple[harness.Cluster, ManualClock[datetime]]:
    cluster = harness.Cluster(tmp_path)
    cluster.write("nodes.yaml", NODE)
    cluster.write("tick.yaml", CRONJOB_YAML)
    cluster.converge()
    obj = cluster.store.get_object(KEY)
    assert obj is not None
    clock = ManualClock(obj.created_at.replace(second=0, microsecond=0) + timedelta(minutes=1,
                                                                              seconds=5))
    cluster.ctx.clock = clock
    return cluster, clock


class TestCronJobController:
    def test_a_start_runs_a_job_and_the_removed_cronjob_takes_it(self, tmp_path: Path) -> None:
        """The minute after creation: one Job, named after the minute, owned, with a pod; the
        manifest removed: the Job and its pod go."""
        cluster, clock = start(tmp_path)
        try:
            cluster.queue.add(WorkKey(CRONJOB, KEY))
            cluster.converge()
            [job] = cluster.store.objects(kind="Job")
            minute = clock.now.replace(second=0)
            assert job.key.name == f"tick-{int(minute.timestamp()) // 60}"
            assert job.source_file == owned_source("default", "tick")
            pods = cluster.store.list_pods(namespace="default")
            assert [p.owner.uid for p in pods if p.owner] == [job.uid]
            cj = cluster.store.get_object(KEY)
            assert cj is not None and cj.status is not None
            assert [r["name"] for r in cj.status["active"]] == [job.key.name]
            assert cj.status["active"][0]["uid"] == job.uid
            assert cj.status["lastScheduleTime"] == minute.strftime("%Y-%m-%dT%H:%M:%SZ")
            cluster.queue.add(WorkKey(CRONJOB, KEY))  # the same minute again: nothing new
            cluster.converge()
            assert len(cluster.store.objects(kind="Job")) == 1

            (cluster.desired / "tick.yaml").unlink()
            cluster.converge(2)
            assert cluster.store.objects(kind="Job") == []
            assert all(p.deletion_timestamp is not None
                       for p in cluster.store.list_pods(namespace="default"))
        finally:
            cluster.store.close()

    def test_jobs_of_a_cronjob_removed_while_down_are_collected(self, tmp_path: Path) -> None:
        """Jobs whose CronJob is gone (removed while no service ran) are named by the resync
        and removed by the CronJob's reconcile."""
        cluster, _ = start(tmp_path)
        try:
            ghost = Key("Job", "default", "gone-29000000")
            body = {"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": ghost.name, "namespace": "default"},
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                        {"name": "w", "image": "b:1"}]}}}}
            assert not cluster.store.write_owned(owned_source("default", "gone"),
                                                 [(ghost, body)], [], datetime.now(UTC))
            assert list(orphaned(cluster.ctx, False)) == [Key("CronJob", "default", "gone")]
            cluster.queue.add(WorkKey(CRONJOB, Key("CronJob", "default", "gone")))
            cluster.converge()
            assert cluster.store.get_object(ghost) is None
            assert list(orphaned(cluster.ctx, False)) == []
        finally:
            cluster.store.close()
