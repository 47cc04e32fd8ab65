"""Restarts and probes on a real engine: crash-loop back-off, liveness, readiness, watch."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import datetime

import pytest

from reconciler.runtime.types import PodSync
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker

SERVE = ("mkdir -p /www; echo ok > /www/healthz; echo ok > /www/ready; "
         "exec httpd -f -p {port} -h /www")


def running(result: PodSync) -> bool:
    return result.phase == "Running" and all(c.state == "running" for c in result.containers)


class TestCrashLoop:
    def test_exit_non_zero_restarts_with_growing_backoff(self, harness: Harness) -> None:
        """A container exiting 3 is restarted after 1 s, 2 s, 4 s, waiting in CrashLoopBackOff."""
        pod = make_pod("crash", {"containers": [
            {"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "exit 3"]}]})
        seen: dict[int, tuple[datetime, datetime]] = {}
        reasons: set[str] = set()

        def record(result: PodSync) -> bool:
            st = result.containers[0]
            reasons.add(st.reason)
            if st.state == "waiting" and st.last_started_at and st.last_finished_at:
                seen[st.restart_count] = (st.last_started_at, st.last_finished_at)
                assert st.last_exit_code == 3
            return sum(n + 1 in seen for n in seen) >= 2

        result = harness.converge(pod, record, timeout=60)
        assert result.phase == "Running"  # restartPolicy Always: a crash loop is still Running
        assert "CrashLoopBackOff" in reasons
        # The wait before restart n+1 is 2**n s (initial 1 s, doubled). A loaded machine can
        # delay a restart, never advance it, and the sampling may miss a restart: lower
        # bounds on the pairs seen. A fixed 1 s delay fails every bound past the first.
        gaps = {n: (seen[n + 1][0] - seen[n][1]).total_seconds() for n in seen if n + 1 in seen}
        assert all(gap >= 0.9 * 2 ** n for n, gap in gaps.items()), gaps
        assert max(gaps) >= 1, gaps
        assert "BackOff" in harness.reasons()

    def test_restart_policy_never_fails_the_pod(self, harness: Harness) -> None:
        """restartPolicy Never: the container is not restarted and the pod is Failed."""
        pod = make_pod("never", {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "exit 2"]}]})
        result = harness.converge(pod, lambda r: r.phase != "Pending" and
                                  r.containers[0].state == "terminated", timeout=15)
        assert result.phase == "Failed"
        st = result.containers[0]
        assert (st.exit_code, st.reason, st.restart_count) == (2, "Error", 0)


class TestProbes:
    def test_failing_liveness_probe_restarts(self, harness: Harness) -> None:
        """A failing httpGet liveness probe: Unhealthy, Killing, then a restarted container."""
        pod = make_pod("live", {"containers": [{
            "name": "web", "image": BUSYBOX, "command": ["sh", "-c", SERVE.format(port=8080)],
            "ports": [{"containerPort": 8080, "name": "http"}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                              "periodSeconds": 1, "failureThreshold": 2},
        }]})
        harness.converge(pod, running)
        harness.agent.exec(pod.uid, "web", ["sh", "-c", "rm /www/healthz"])
        result = harness.converge(pod, lambda r: running(r) and
                                  r.containers[0].restart_count == 1, timeout=30)
        reasons = harness.reasons()
        assert reasons.index("Unhealthy") < reasons.index("Killing")
        assert any(e.message == "Liveness probe failed: HTTP probe failed with statuscode: 404"
                   for e in harness.events)
        assert pod.uid in harness.changed
        assert result.containers[0].last_exit_code is not None

    def test_readiness_probe_flips_ready(self, harness: Harness) -> None:
        """A readiness probe of an unpublished port (nc in the infra) drives Ready both ways."""
        pod = make_pod("ready", {"containers": [{
            "name": "web", "image": BUSYBOX, "command": ["sh", "-c", SERVE.format(port=9090)],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 9090},
                               "periodSeconds": 1, "failureThreshold": 1},
        }]})
        result = harness.converge(pod, lambda r: r.conditions[2].status, timeout=20)
        assert result.conditions[2].type == "Ready" and result.containers[0].ready
        harness.changed.clear()
        harness.agent.exec(pod.uid, "web", ["sh", "-c", "rm /www/ready"])
        result = harness.converge(pod, lambda r: not r.conditions[2].status, timeout=20)
        assert not result.containers[0].ready and result.phase == "Running"
        assert "containers with unready status: [web]" in result.conditions[2].message
        assert pod.uid in harness.changed  # the flip was reported, not just polled
        harness.agent.exec(pod.uid, "web", ["sh", "-c", "echo ok > /www/ready"])
        harness.converge(pod, lambda r: r.conditions[2].status, timeout=20)


class TestWatch:
    def test_container_removed_by_hand_is_seen_and_recreated(self, harness: Harness) -> None:
        """`docker rm -f` of a container: watch names its pod; the next sync recreates it."""
        pod = make_pod("drift", {"containers": [
            {"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]})
        first = harness.converge(pod, running)
        stop = threading.Event()
        watcher = threading.Thread(target=harness.agent.watch, args=(stop,), daemon=True)
        watcher.start()
        try:
            time.sleep(1.2)  # the first window of the event stream is open
            harness.changed.clear()
            harness.wake.clear()
            cid = first.containers[0].container_id.removeprefix("docker://")
            subprocess.run(["docker", "rm", "-f", cid], check=True, capture_output=True)
            # Only the event stream wakes this harness; how fast is bench/ drift-repair's figure.
            assert harness.wake.wait(20), "on_change was not called"
            assert pod.uid in harness.changed
            result = harness.converge(pod, running, timeout=30)
        finally:
            stop.set()
            watcher.join(5)
        assert not watcher.is_alive()
        new = result.containers[0]
        assert new.container_id != first.containers[0].container_id and new.restart_count == 1
        missing = [e for e in harness.events if e.reason == "ContainerMissing"]
        assert missing and "was removed outside the reconciler" in missing[0].message
