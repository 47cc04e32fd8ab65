"""kube-state-metrics' series built from a ClusterView, read back with Prometheus' own parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.api.records import (
    Condition,
    ContainerStatus,
    NodeRecord,
    OwnerRef,
    PodRecord,
)
from reconciler.api.types import Key
from reconciler.service.kube_metrics import ClusterView, KubeState
from reconciler.store.records import ObjectRecord, RevisionRecord

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(view: ClusterView) -> Samples:
    registry = CollectorRegistry()
    registry.register(KubeState(lambda: view))
    out: Samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    found = [v for lab, v in samples.get(name, [])
             if all(lab.get(k) == want for k, want in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def pod(name: str, phase: str, restarts: int, ready: bool) -> PodRecord:
    return PodRecord(uid=f"u-{name}", namespace="default", name=name, spec={}, spec_hash="h",
                     created_at=NOW, phase=phase, node_name="local",  # type: ignore[arg-type]
                     owner=OwnerRef("ReplicaSet", "web-abc", "rs-uid"),
                     conditions=[Condition("Ready", ready)],
                     containers=[ContainerStatus("web", "web:1", state="running" if ready
                                                 else "waiting", reason="" if ready else
                                                 "CrashLoopBackOff", ready=ready,
                                                 restart_count=restarts)])


def deployment(available: int) -> ObjectRecord:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 3}}
    return ObjectRecord(key=Key("Deployment", "default", "web"), uid="d", api_version="apps/v1",
                        body=body, source_file="web.yaml", line=1, document=0,
                        content_hash="h", revision="folder", generation=1, stale=False,
                        status={"replicas": 3, "availableReplicas": available},
                        created_at=NOW, updated_at=NOW)


class TestKubeState:
    def test_pods(self) -> None:
        """Phase (one series per phase), readiness, restarts_total and the waiting reason."""
        s = scrape(ClusterView(pods=[pod("a", "Running", 0, True),
                                     pod("b", "Running", 4, False)], now=NOW))
        assert value(s, "kube_pod_status_phase", pod="a", phase="Running") == 1
        assert value(s, "kube_pod_status_phase", pod="a", phase="Pending") == 0
        assert value(s, "kube_pod_container_status_restarts_total", pod="b",
                     container="web", namespace="default", uid="u-b") == 4
        assert value(s, "kube_pod_status_ready", pod="b", condition="false") == 1
        assert value(s, "kube_pod_container_status_waiting_reason", pod="b",
                     reason="CrashLoopBackOff") == 1
        assert value(s, "kube_pod_info", pod="a", created_by_kind="ReplicaSet",
                     node="local") == 1

    def test_workloads(self) -> None:
        """A Deployment's spec and status replicas under KSM's names; missing fields are 0."""
        s = scrape(ClusterView(objects={"Deployment": [deployment(2)]}, now=NOW))
        assert value(s, "kube_deployment_status_replicas_available", deployment="web") == 2
        assert value(s, "kube_deployment_spec_replicas", namespace="default") == 3
        assert value(s, "kube_deployment_status_replicas_updated", deployment="web") == 0

    def test_nodes(self) -> None:
        """kube_node_status_condition has one series per status, the current one set to 1."""
        n = NodeRecord("local", "unix:///x", NOW, ready=True, last_heartbeat=NOW,
                       conditions=[Condition("ForeignContainers", False)])
        s = scrape(ClusterView(nodes=[n], now=NOW))
        assert value(s, "kube_node_status_condition", condition="Ready", status="true") == 1
        assert value(s, "kube_node_status_condition", condition="Ready", status="unknown") == 0
        assert value(s, "kube_node_status_condition", condition="ForeignContainers",
                     status="false") == 1

    def test_revision(self) -> None:
        """The applied revision, its time and its age at the view's clock."""
        rev = RevisionRecord("abc123", "git /srv/repo", NOW - timedelta(seconds=90))
        s = scrape(ClusterView(revision=rev, now=NOW))
        assert value(s, "reconciler_applied_revision_info", revision="abc123") == 1
        assert value(s, "reconciler_applied_revision_age_seconds") == 90
        assert value(s, "reconciler_applied_revision_timestamp_seconds") == \
            (NOW - timedelta(seconds=90)).timestamp()

    def test_failing_source(self) -> None:
        """A source that raises yields no series and no error."""
        def broken() -> ClusterView:
            raise RuntimeError("store locked")

        registry = CollectorRegistry()
        registry.register(KubeState(broken))
        assert generate_latest(registry) == b""
