"""End to end: the running service's /metrics in kube-state-metrics' names (issue 21),
scraped over loopback and read with Prometheus' own text parser."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.process_helpers import GitRepo, metric, pod_yaml, rc_yaml, scrape
from tests.e2e.service import ServiceRun, wait_until
from tests.support.fluent_receiver import free_port

pytestmark = [pytest.mark.docker]

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: front
spec:
  replicas: 1
  selector:
    matchLabels: {app: front}
  template:
    metadata:
      labels: {app: front}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: reconciler/busybox:1
        command: [sleep, "3600"]
"""


class TestKubeStateMetrics:
    @pytest.mark.timeout(240)
    def test_scrape(self, svc_factory: list[ServiceRun], tmp_path: Path) -> None:
        """Pods, RC, Deployment, node, revision, build, leader and timing series all answer."""
        address = f"127.0.0.1:{free_port()}"
        # From git: the applied revision (a SHA) is what the revision series report.
        repo = GitRepo(tmp_path / "git").init()
        sha = repo.commit({"rc.yaml": rc_yaml("web", 2), "front.yaml": DEPLOYMENT,
                           "crash.yaml": pod_yaml("crash", command="exit 3")}, "workloads")
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off", "--git", str(repo.bare),
                                         "--branch", "main"),
                         extra_env={"RECONCILER_METRICS_ADDRESS": address})
        svc_factory.append(run)
        run.start()

        def converged() -> dict[str, list[tuple[dict[str, str], float]]] | None:
            s = scrape(address)
            ok = (metric(s, "kube_deployment_status_replicas_available", deployment="front") == 1
                  and metric(s, "kube_replicationcontroller_status_ready_replicas",
                             replicationcontroller="web") == 2
                  and metric(s, "kube_replicaset_status_ready_replicas") == 1
                  and metric(s, "kube_pod_container_status_restarts_total", pod="crash") >= 1)
            return s if ok else None

        s = wait_until(converged, 150, 1.0, what="the RC, the Deployment and a restart counted")
        # The RC's two and the Deployment's one (the crash-looping pod may be between phases).
        assert metric(s, "kube_pod_status_phase", phase="Running", namespace="default") >= 3
        assert metric(s, "kube_replicationcontroller_spec_replicas",
                      replicationcontroller="web") == 2
        assert metric(s, "kube_deployment_spec_replicas", deployment="front") == 1
        assert metric(s, "kube_node_status_condition", node="local", condition="Ready",
                      status="true") == 1
        assert metric(s, "reconciler_build_info") == 1
        assert metric(s, "reconciler_leader") == 1
        assert metric(s, "reconciler_applied_revision_info", revision=sha) == 1
        assert metric(s, "reconciler_applied_revision_age_seconds") >= 0
        assert metric(s, "reconciler_applied_revision_timestamp_seconds") > 1.7e9
        # The service's own timing series, as before: by controller and by Docker operation.
        assert metric(s, "reconciler_reconcile_duration_seconds_count", controller="pod") >= 1
        assert metric(s, "reconciler_docker_call_duration_seconds_count",
                      operation="POST /containers/{id}/start") >= 4
        assert "reconciler_workqueue_depth" in s
        started = time.perf_counter()
        again = scrape(address)
        took = time.perf_counter() - started
        kube = sum(len(v) for k, v in again.items() if k.startswith("kube_"))
        print(f"\nmetrics: {sum(len(v) for v in again.values())} samples, {kube} kube_*, "
              f"scraped and parsed in {took * 1000:.0f} ms")
