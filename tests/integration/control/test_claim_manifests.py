"""Standalone PersistentVolumeClaims and ConfigMaps through the control plane (real store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.control.harness import Cluster
from tests.integration.control.test_claims import POD_WITH_CLAIM
from tests.integration.control.test_controllers import NODES, converge_twice

CLAIM = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: www-web-0, labels: {tier: data}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""
CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg}}
data: {{k: "{value}"}}
"""
POD_WITH_CONFIG = """\
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  volumes: [{name: c, configMap: {name: cfg}}]
  containers: [{name: c, image: x, volumeMounts: [{name: c, mountPath: /c}]}]
"""


@pytest.fixture
def cluster(tmp_path: Path, store_url: str) -> Iterator[Cluster]:
    """The control plane on SQLite, then on PostgreSQL (`store_url`)."""
    c = Cluster(tmp_path, store_url)
    c.write("nodes.yaml", NODES)
    yield c
    c.store.close()


class TestClaimManifest:
    def test_manifest_makes_a_claim_bound_by_its_first_pod(self, cluster: Cluster) -> None:
        """A declared claim is recorded, bound to its first pod's node, and its volume made."""
        cluster.write("pvc.yaml", CLAIM)
        cluster.write("pod.yaml", POD_WITH_CLAIM)
        converge_twice(cluster)
        claim = cluster.store.get_claim("default", "www-web-0")
        pod = cluster.store.get_pod("default", "web-0")
        assert claim is not None and pod is not None
        assert claim.owner is None and claim.storage == "1Gi"
        assert claim.access_modes == ["ReadWriteOnce"] and claim.labels == {"tier": "data"}
        assert pod.node_name and claim.node_name == pod.node_name
        assert cluster.hosts.agents[pod.node_name].volumes == {"www-web-0"}

    def test_pod_waiting_for_the_claim_is_woken(self, cluster: Cluster) -> None:
        """A pod Pending for a missing claim is scheduled once the claim is declared."""
        cluster.write("pod.yaml", POD_WITH_CLAIM)
        converge_twice(cluster)
        assert cluster.running() == []
        cluster.write("pvc.yaml", CLAIM)
        converge_twice(cluster)
        assert cluster.running() == ["web-0"]

    def test_removed_manifest_keeps_the_claim(self, cluster: Cluster) -> None:
        """Deleting the manifest keeps the claim and its data (documented decision)."""
        cluster.write("pvc.yaml", CLAIM)
        converge_twice(cluster)
        (cluster.desired / "pvc.yaml").unlink()
        converge_twice(cluster)
        assert cluster.store.get_claim("default", "www-web-0") is not None


class TestConfigMapConsumers:
    def test_change_reaches_the_running_pod(self, cluster: Cluster) -> None:
        """The pod's agent gets the ConfigMap's data, and its new data after a change."""
        cluster.write("cfg.yaml", CONFIG.format(value="1"))
        cluster.write("pod.yaml", POD_WITH_CONFIG)
        converge_twice(cluster)
        pod = cluster.store.get_pod("default", "app")
        assert pod is not None and pod.node_name
        agent = cluster.hosts.agents[pod.node_name]
        assert agent.envs[pod.uid].configs.get("ConfigMap", "cfg") == {"k": b"1"}
        cluster.write("cfg.yaml", CONFIG.format(value="2"))
        converge_twice(cluster)
        assert agent.envs[pod.uid].configs.get("ConfigMap", "cfg") == {"k": b"2"}
