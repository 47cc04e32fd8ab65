"""Pods with claims and the claim controller on a real SQLite store, with in-memory hosts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.api.records import ClaimRecord
from reconciler.control.claims import CLAIM, ClaimController
from reconciler.control.context import POD
from reconciler.control.loop import WorkKey
from reconciler.scheduling.volume_binding import REASON_CONFLICT
from tests.integration.control.harness import Cluster
from tests.integration.control.test_controllers import NODES, converge_twice

POD_WITH_CLAIM = """\
apiVersion: v1
kind: Pod
metadata: {name: web-0}
spec:
  volumes: [{name: www, persistentVolumeClaim: {claimName: www-web-0}}]
  containers: [{name: c, image: x, volumeMounts: [{name: www, mountPath: /www}]}]
"""
T0 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def cluster(tmp_path: Path, store_url: str) -> Iterator[Cluster]:
    """The control plane on SQLite, then on PostgreSQL (`store_url`)."""
    c = Cluster(tmp_path, store_url)
    c.write("nodes.yaml", NODES)
    yield c
    c.store.close()


def make_claim(c: Cluster, node: str = "") -> ClaimRecord:
    claim = c.store.ensure_claims([ClaimRecord("default", "www-web-0", "", None)])[0]
    if node:
        c.store.bind_claim("default", "www-web-0", node)
    return claim


def retry_pod(c: Cluster) -> None:
    """Run the scheduling retry now instead of after its delay."""
    pod = c.store.get_pod("default", "web-0")
    assert pod is not None
    c.queue.add(WorkKey(POD, pod.uid))
    c.converge()


def failed_scheduling(c: Cluster) -> str:
    events = c.store.list_events("default", "Pod", "web-0")
    return [e.message for e in events if e.reason == "FailedScheduling"][-1]


class TestPodClaims:
    def test_missing_claim_keeps_pod_pending(self, cluster: Cluster) -> None:
        """Without its claim the pod is Pending with kube-scheduler's words, then runs."""
        cluster.write("pod.yaml", POD_WITH_CLAIM)
        converge_twice(cluster)
        pod = cluster.store.get_pod("default", "web-0")
        assert pod is not None and pod.phase == "Pending" and not pod.node_name
        assert failed_scheduling(cluster) == (
            '0/2 nodes are available: persistentvolumeclaim "www-web-0" not found.')
        make_claim(cluster)
        retry_pod(cluster)
        assert cluster.running() == ["web-0"]

    def test_first_placement_binds_the_claim(self, cluster: Cluster) -> None:
        """The node the pod is placed on becomes the claim's node; the volume is made there."""
        make_claim(cluster)
        cluster.write("pod.yaml", POD_WITH_CLAIM)
        converge_twice(cluster)
        pod = cluster.store.get_pod("default", "web-0")
        claim = cluster.store.get_claim("default", "www-web-0")
        assert pod is not None and claim is not None and pod.node_name
        assert claim.node_name == pod.node_name
        agent = cluster.hosts.agents[pod.node_name]
        assert agent.volumes == {"www-web-0"}
        assert dict(agent.envs[pod.uid].claim_uids) == {"www-web-0": claim.uid}

    @pytest.mark.parametrize("node", ["a", "b"])
    def test_bound_claim_pins_the_pod(self, cluster: Cluster, node: str) -> None:
        """A pod whose claim is bound to a node goes to that node only."""
        make_claim(cluster, node)
        cluster.write("pod.yaml", POD_WITH_CLAIM)
        converge_twice(cluster)
        pod = cluster.store.get_pod("default", "web-0")
        assert pod is not None and pod.node_name == node and pod.phase == "Running"

    def test_claim_on_unknown_node(self, cluster: Cluster) -> None:
        """A claim held by a host that is not registered: Pending, with the conflict reason."""
        make_claim(cluster, "gone")
        cluster.write("pod.yaml", POD_WITH_CLAIM)
        converge_twice(cluster)
        pod = cluster.store.get_pod("default", "web-0")
        assert pod is not None and pod.phase == "Pending"
        assert failed_scheduling(cluster) == f"0/2 nodes are available: 2 {REASON_CONFLICT}."


class TestClaimController:
    def test_unmarked_claim_is_kept(self, cluster: Cluster) -> None:
        """A claim not marked for deletion is never removed, used or not."""
        make_claim(cluster, "a")
        converge_twice(cluster)
        cluster.queue.add(WorkKey(CLAIM, ("default", "www-web-0")))
        cluster.converge()
        assert cluster.store.get_claim("default", "www-web-0") is not None

    def test_marked_claim_waits_for_its_pod(self, cluster: Cluster) -> None:
        """A marked claim stays while mounted; its pod's deletion removes volume and record."""
        claim = make_claim(cluster)
        cluster.write("pod.yaml", POD_WITH_CLAIM)
        converge_twice(cluster)
        node = cluster.store.get_pod("default", "web-0").node_name  # type: ignore[union-attr]
        cluster.store.mark_claims_deleted([claim], T0)
        cluster.queue.add(WorkKey(CLAIM, ("default", "www-web-0")))
        cluster.converge()
        assert cluster.store.get_claim("default", "www-web-0") is not None
        (cluster.desired / "pod.yaml").unlink()
        cluster.converge()
        assert cluster.store.get_claim("default", "www-web-0") is None
        assert ("remove_volume", "www-web-0") in cluster.hosts.agents[node].calls
        assert cluster.hosts.agents[node].volumes == set()

    def test_unreachable_host_retried(self, cluster: Cluster) -> None:
        """The claim's host down: the record stays until the volume could be removed."""
        claim = make_claim(cluster, "a")
        converge_twice(cluster)
        cluster.store.mark_claims_deleted([claim], T0)
        cluster.hosts.agents["a"].down = True
        controller = ClaimController(cluster.ctx)
        result = controller.reconcile(WorkKey(CLAIM, ("default", "www-web-0")))
        assert result.requeue_after is not None
        assert cluster.store.get_claim("default", "www-web-0") is not None
        cluster.hosts.agents["a"].down = False
        assert controller.reconcile(WorkKey(CLAIM, ("default", "www-web-0"))).requeue_after is None
        assert cluster.store.get_claim("default", "www-web-0") is None

    def test_unregistered_host_drops_record(self, cluster: Cluster) -> None:
        """A marked claim on a host no longer registered: only the record goes."""
        claim = make_claim(cluster, "gone")
        cluster.store.mark_claims_deleted([claim], T0)
        ClaimController(cluster.ctx).reconcile(WorkKey(CLAIM, ("default", "www-web-0")))
        assert cluster.store.get_claim("default", "www-web-0") is None
