"""Lifecycle hooks and startup probes on a real engine: preStop before SIGTERM, the grace
counting the hook's time, postStart and its failure, a startup probe gating readiness."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.records import PodRecord
from reconciler.runtime.types import PodEnv
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod
from tests.integration.runtime.test_security import pods, running

__all__ = ["pods"]  # the fixture, shared with test_security.py

pytestmark = pytest.mark.docker

# Writes "started", then "term" from its SIGTERM trap (the trap runs once the current
# one-second sleep returns), and exits 0.
TRAPPER = ("trap 'echo term >> /m/marks; exit 0' TERM; echo started >> /m/marks; "
           "while true; do sleep 1; done")


@pytest.fixture
def marks_harness(harness_factory: Callable[..., Harness], tmp_path: Path) -> Harness:
    """A harness whose pods may mount `tmp_path` (hostPath), where the markers go."""
    return harness_factory(host_path_allow=(str(tmp_path),))


def marker_pod(name: str, tmp_path: Path, lifecycle: dict[str, Any], grace: int,
               command: str = TRAPPER) -> PodRecord:
    return make_pod(name, {
        "terminationGracePeriodSeconds": grace,
        "volumes": [{"name": "m", "hostPath": {"path": str(tmp_path)}}],
        "containers": [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", command],
                        "volumeMounts": [{"name": "m", "mountPath": "/m"}],
                        "lifecycle": lifecycle}]})


def marks(tmp_path: Path) -> list[str]:
    path = tmp_path / "marks"
    return path.read_text().split() if path.exists() else []


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


class TestPreStop:
    def test_pre_stop_runs_before_sigterm(self, marks_harness: Harness, tmp_path: Path) -> None:
        """Deleting the pod runs preStop (which takes 2 s) to the end, then SIGTERM: the hook's
        marker is written before the process's SIGTERM trap writes its own."""
        pod = marker_pod("prestop", tmp_path, {"preStop": {"exec": {"command": [
            "sh", "-c", "sleep 2; echo prestop >> /m/marks"]}}}, grace=20)
        marks_harness.converge(pod, running)
        wait_for(lambda: marks(tmp_path) == ["started"])
        marks_harness.agent.kill_pod(pod.uid, 20)
        assert marks(tmp_path) == ["started", "prestop", "term"]

    def test_grace_counts_the_hook_time(self, marks_harness: Harness, tmp_path: Path) -> None:
        """A preStop hook longer than the grace period is cut short: SIGTERM comes anyway
        (the hook's marker is never written) and the pod is gone."""
        pod = marker_pod("slowhook", tmp_path, {"preStop": {"exec": {"command": [
            "sh", "-c", "sleep 60; echo prestop >> /m/marks"]}}}, grace=2)
        marks_harness.converge(pod, running)
        wait_for(lambda: marks(tmp_path) == ["started"])
        marks_harness.agent.kill_pod(pod.uid, 2)
        assert marks(tmp_path) == ["started", "term"]
        assert marks_harness.agent.list_pods().get(pod.uid) is None

    def test_pre_stop_on_liveness_restart(self, marks_harness: Harness,
                                          tmp_path: Path) -> None:
        """A liveness failure restarts the container through the same stop: preStop, then
        SIGTERM, then the new instance (which writes "started" again)."""
        pod = marker_pod("liveness", tmp_path, {"preStop": {"exec": {"command": [
            "sh", "-c", "echo prestop >> /m/marks"]}}}, grace=10)
        pod.spec["containers"][0]["livenessProbe"] = {
            "exec": {"command": ["test", "!", "-f", "/tmp/sick"]},
            "periodSeconds": 1, "failureThreshold": 1}
        try:
            marks_harness.converge(pod, running)
            wait_for(lambda: marks(tmp_path) == ["started"])
            marks_harness.agent.exec(pod.uid, "c", ["touch", "/tmp/sick"])
            marks_harness.converge(pod, lambda r: running(r) and
                                   r.containers[0].restart_count == 1, timeout=60)
            wait_for(lambda: len(marks(tmp_path)) == 4)
            assert marks(tmp_path) == ["started", "prestop", "term", "started"]
        finally:
            marks_harness.agent.kill_pod(pod.uid, 0)

    def test_forced_removal_skips_the_hook(self, marks_harness: Harness,
                                           tmp_path: Path) -> None:
        """A grace of 0 (a forced removal) runs no hook, as in Kubernetes."""
        pod = marker_pod("forced", tmp_path, {"preStop": {"exec": {"command": [
            "sh", "-c", "echo prestop >> /m/marks"]}}}, grace=10)
        marks_harness.converge(pod, running)
        wait_for(lambda: marks(tmp_path) == ["started"])
        marks_harness.agent.kill_pod(pod.uid, 0)
        assert "prestop" not in marks(tmp_path)


class TestPostStart:
    def test_post_start_runs(self, marks_harness: Harness, tmp_path: Path) -> None:
        """postStart (exec) runs in the new container; the pod runs."""
        pod = marker_pod("poststart", tmp_path, {"postStart": {"exec": {"command": [
            "sh", "-c", "echo poststart >> /m/marks"]}}}, grace=5)
        try:
            marks_harness.converge(pod, running)
            wait_for(lambda: "poststart" in marks(tmp_path))
        finally:
            marks_harness.agent.kill_pod(pod.uid, 0)

    def test_failed_post_start_kills_and_restarts(self, harness: Harness,
                                                  pods: list[PodRecord]) -> None:
        """A failing postStart: FailedPostStartHook in kubelet's words, the container is
        killed, and restarted by its restart policy."""
        pod = make_pod("badhook", {"terminationGracePeriodSeconds": 2, "containers": [{
            "name": "c", "image": BUSYBOX, "command": ["sh", "-c", "exec sleep 3600"],
            "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "exit 3"]}}}}]})
        pods.append(pod)
        harness.converge(pod, lambda r: r.containers[0].restart_count >= 1, timeout=60)
        failed = [e for e in harness.events if e.reason == "FailedPostStartHook"]
        assert failed and failed[0].message == (
            f'Exec lifecycle hook ([sh -c exit 3]) for Container "c" in Pod '
            f'"badhook_default({pod.uid})" failed - error: command \'sh -c exit 3\' exited '
            'with 3: , message: ""')
        assert any(e.reason == "Killing" and e.message == "FailedPostStartHook"
                   for e in harness.events)


class TestStartupProbe:
    def test_startup_probe_delays_readiness(self, harness: Harness,
                                            pods: list[PodRecord]) -> None:
        """Until the startup probe succeeds the container is neither started nor ready (its
        readiness probe would pass); once it succeeds, both."""
        pod = make_pod("slowstart", {"containers": [{
            "name": "c", "image": BUSYBOX, "command": ["sh", "-c", "exec sleep 3600"],
            "startupProbe": {"exec": {"command": ["test", "-f", "/tmp/started"]},
                             "periodSeconds": 1, "failureThreshold": 120},
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}]})
        pods.append(pod)
        harness.converge(pod, running)
        # Several probe periods in which readiness alone would have passed.
        seen = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            result = harness.agent.sync_pod(pod, PodEnv())
            seen.append((result.containers[0].started, result.containers[0].ready))
            time.sleep(0.5)
        assert set(seen) == {(False, False)}, seen
        harness.agent.exec(pod.uid, "c", ["touch", "/tmp/started"])
        result = harness.converge(pod, lambda r: r.containers[0].ready, timeout=30)
        assert result.containers[0].started
        assert any(c.type == "Ready" and c.status for c in result.conditions)
