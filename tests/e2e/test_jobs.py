"""End to end: Jobs on the real service and engine (issue 19).

Each pod of these Jobs appends its name to a file on a hostPath folder of the
test's own, so the file says how many times a pod ran and which. One pod fails
once: the first to create a marker folder there (mkdir is atomic, so exactly
one pod, whichever). The tests check a Job of 5 completions at parallelism 2
with that failure (Complete with 5 successes and 1 failure, the back-off event,
never more than 2 work containers running, sampled from Docker), the GitOps
rules (a restart does not run it again, a changed template runs it again, a
removed manifest takes the Job and its pods), and a kill -9 of the service mid-Job
(the pods adopted, each run once, the count right).
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service import ServiceRun, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  completions: {completions}
  parallelism: 2
  backoffLimit: 3
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: reconciler/busybox:1
        env: [{{name: VERSION, value: "{version}"}}]
        command: ["sh", "-c", "echo $HOSTNAME >> /m/{name}.runs; {fail} sleep {sleep}"]
        volumeMounts: [{{name: m, mountPath: /m}}]
      volumes:
      - name: m
        hostPath: {{path: {folder}}}
"""
FAIL_ONCE = "if mkdir /m/failed-once 2>/dev/null; then exit 1; fi;"


def job_yaml(folder: Path, name: str = "batch", completions: int = 5, version: str = "1",
             fail_once: bool = True, sleep: int = 3) -> str:
    return JOB.format(name=name, completions=completions, version=version, folder=folder,
                      fail=FAIL_ONCE if fail_once else "", sleep=sleep)


def new_run(tmp_path: Path, svc_factory: list[ServiceRun], prefix: str | None = None,
            ) -> ServiceRun:
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    run = ServiceRun(tmp_path, prefix=prefix, extra_env={
        "RECONCILER_RUNTIME_HOST_PATH_ALLOW": str(folder),
        "RECONCILER_NETWORK_PROXY_MODE": "off"})
    svc_factory.append(run)
    return run


def job(run: ServiceRun, name: str = "batch") -> dict[str, Any]:
    got = run.cli("get", "job", name, "-o", "json", check=False)
    return json.loads(got.stdout) if got.returncode == 0 and got.stdout.strip() else {}


def condition(run: ServiceRun, name: str = "batch") -> str:
    """The Job's finished condition (Complete or Failed), or ""."""
    status = job(run, name).get("status") or {}
    return next((c["type"] for c in status.get("conditions") or []
                 if c.get("status") == "True" and c["type"] in ("Complete", "Failed")), "")


def runs(folder: Path, name: str = "batch") -> list[str]:
    path = folder / f"{name}.runs"
    return path.read_text().split() if path.exists() else []


def job_pods(run: ServiceRun, name: str = "batch") -> dict[str, str]:
    """The Job's pods by name: their phase."""
    return {p["metadata"]["name"]: p["status"].get("phase", "") for p in run.pods()
            if (p["metadata"].get("labels") or {}).get("job-name") == name}


class RunningSampler:
    """Counts the Job's work containers Docker says are running, every 0.2 s, in a thread."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            out = subprocess.run(
                ["docker", "ps", "--filter", f"label=io.reconciler.prefix={self.prefix}",
                 "--filter", "label=io.reconciler.container.name=work", "-q"],
                capture_output=True, text=True, check=False).stdout
            self.samples.append(len(out.split()))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(10)
        return self.samples


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "m"
    path.mkdir(exist_ok=True)
    yield path


class TestJobOfFive:
    def test_completes_with_one_failure_and_parallelism_two(
        self, svc_factory: list[ServiceRun], tmp_path: Path, folder: Path,
    ) -> None:
        """5 completions at parallelism 2, one pod failing once: Complete with 5 successes and
        1 failure, a BackOff event, never more than 2 running, each pod run once."""
        run = new_run(tmp_path, svc_factory)
        run.start()
        sampler = RunningSampler(run.prefix)
        try:
            run.write("batch.yaml", job_yaml(folder))
            assert wait_until(lambda: condition(run), 300, what="the Job finished") == \
                "Complete"
        finally:
            samples = sampler.stop()
        status = job(run)["status"]
        assert (status["succeeded"], status["failed"], status["active"]) == (5, 1, 0)
        assert status["startTime"] and status["completionTime"]
        assert samples and max(samples) <= 2, samples
        phases = job_pods(run)
        assert sorted(phases.values()) == ["Failed", *["Succeeded"] * 5], phases
        ran = runs(folder)
        assert sorted(ran) == sorted(phases), (ran, phases)  # each pod ran once
        # Events are written a moment after the status (in batches): wait for them.
        wait_until(lambda: "BackOff" in (e := run.cli("get", "events").stdout)
                   and "job/batch" in e, timeout=30, what="the Job's BackOff event")
        table = run.cli("get", "jobs").stdout
        assert "5/5" in table, table
        describe = run.cli("describe", "job", "batch").stdout
        assert "5 Succeeded / 1 Failed" in describe, describe

    def test_gitops_rules(
        self, svc_factory: list[ServiceRun], tmp_path: Path, folder: Path,
    ) -> None:
        """A restart never runs a finished Job again; a changed template runs it again (the
        old pods removed); the removed manifest takes the Job and its pods."""
        run = new_run(tmp_path, svc_factory)
        run.write("batch.yaml", job_yaml(folder, completions=2, fail_once=False, sleep=1))
        run.start()
        wait_until(lambda: condition(run) == "Complete", 240, what="the first run")
        first = job_pods(run)
        run.stop()
        again = new_run(tmp_path, svc_factory, prefix=run.prefix)
        again.start()
        # Another Job finishing shows the restarted service has been through its objects.
        again.write("probe.yaml", job_yaml(folder, name="probe", completions=1,
                                           fail_once=False, sleep=0))
        wait_until(lambda: condition(again, "probe") == "Complete", 240, what="the probe Job")
        assert job_pods(again) == first
        assert len(runs(folder)) == 2

        again.write("batch.yaml", job_yaml(folder, completions=2, version="2", fail_once=False,
                                           sleep=1))

        def rerun() -> dict[str, str]:
            pods = job_pods(again)
            done = condition(again) == "Complete" and not set(pods) & set(first)
            return pods if done and len(pods) == 2 else {}

        second = wait_until(rerun, 240, what="the changed template's run")
        assert sorted(runs(folder)) == sorted([*first, *second])
        (again.desired / "batch.yaml").unlink()
        wait_until(lambda: not job(again) and not job_pods(again), 120,
                   what="the Job and its pods removed")


class TestKill9:
    def test_kill9_mid_job_adopts_and_runs_nothing_twice(
        self, svc_factory: list[ServiceRun], tmp_path: Path, folder: Path,
    ) -> None:
        """kill -9 of the service while a Job runs, then a restart: its pods are adopted, the
        Job completes with the right count, and no pod ran twice."""
        run = new_run(tmp_path, svc_factory)
        run.start()
        run.write("batch.yaml", job_yaml(folder, completions=6, fail_once=False, sleep=4))
        wait_until(lambda: len(runs(folder)) >= 3, 240, what="the Job under way")
        run.kill9()
        killed_at = runs(folder)
        print(f"\nkilled with {len(killed_at)} pods started")
        again = new_run(tmp_path, svc_factory, prefix=run.prefix)
        again.start()
        assert wait_until(lambda: condition(again), 300, what="the Job finished") == "Complete"
        status = job(again)["status"]
        assert (status["succeeded"], status["failed"]) == (6, 0), status
        phases = job_pods(again)
        assert sorted(phases.values()) == ["Succeeded"] * 6, phases
        ran = runs(folder)
        assert len(ran) == len(set(ran)) == 6, ran  # nothing ran twice
        assert set(ran) == set(phases) and set(killed_at) <= set(ran)


INDEXED = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: indexed
spec:
  completionMode: Indexed
  completions: 3
  parallelism: 3
  backoffLimit: 3
  template:
    spec:
      restartPolicy: OnFailure
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: reconciler/busybox:1
        command: ["sh", "-c", "echo $JOB_COMPLETION_INDEX-$HOSTNAME >> /m/indexed.runs;
          if [ $JOB_COMPLETION_INDEX = 1 ] && mkdir /m/failed-once 2>/dev/null; then exit 1; fi"]
        volumeMounts: [{{name: m, mountPath: /m}}]
      volumes:
      - name: m
        hostPath: {{path: {folder}}}
"""


class TestIndexedOnFailure:
    def test_each_index_once_and_a_restart_in_place(
        self, svc_factory: list[ServiceRun], tmp_path: Path, folder: Path,
    ) -> None:
        """Indexed, 3 completions, OnFailure, index 1 failing once: its container restarts
        in the same pod (restartCount 1); Complete with completedIndexes 0-2, one pod each."""
        run = new_run(tmp_path, svc_factory)
        run.write("indexed.yaml", INDEXED.format(folder=folder))
        run.start()
        assert wait_until(lambda: condition(run, "indexed"), 300, what="the Job finished") == \
            "Complete"
        status = job(run, "indexed")["status"]
        assert (status["succeeded"], status["failed"], status["completedIndexes"]) == \
            (3, 0, "0-2"), status
        pods = {p["metadata"]["name"]: p for p in run.pods()
                if (p["metadata"].get("labels") or {}).get("job-name") == "indexed"}
        by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]:
                    name for name, p in pods.items()}
        assert sorted(by_index) == ["0", "1", "2"] and len(pods) == 3, pods
        assert all(name.startswith(f"indexed-{i}-") for i, name in by_index.items())
        restarts = {i: pods[n]["status"]["containerStatuses"][0]["restartCount"]
                    for i, n in by_index.items()}
        assert restarts == {"0": 0, "1": 1, "2": 0}, restarts
        ran = runs(folder, "indexed")
        assert sorted(ran) == sorted([f"{i}-{n}" for i, n in by_index.items()]
                                     + [f"1-{by_index['1']}"]), ran
