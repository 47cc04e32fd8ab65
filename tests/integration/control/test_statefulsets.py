"""The StatefulSet controller with the other controllers, on a real SQLite store and FakeHosts.

The work queue is drained synchronously, as in test_controllers.py: "declare,
converge, check". Fake hosts make every pod Running and Ready at its first sync,
so OrderedReady shows as the order of creations. The real engine and DNS are
covered by tests/e2e/test_statefulsets.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.api.types import Key
from reconciler.control.claims import CLAIM
from reconciler.control.context import DESIRED, POD, STATEFULSET
from reconciler.control.loop import WorkKey
from tests.integration.control import harness

NODES = harness.TWO_NODES
KEY = Key("StatefulSet", "default", "web")


def web(replicas: int = 2, *, policy: str = "OrderedReady", env: str = "one",
        strategy: str = "{type: RollingUpdate}", retention: str = "{}") -> str:
    """The Kubernetes website's web.yaml (Service nginx + StatefulSet web) with knobs."""
    return f"""\
apiVersion: v1
kind: Service
metadata: {{name: nginx, labels: {{app: nginx}}}}
spec:
  ports: [{{port: 80, name: web}}]
  clusterIP: None
  selector: {{app: nginx}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web}}
spec:
  serviceName: nginx
  replicas: {replicas}
  podManagementPolicy: {policy}
  updateStrategy: {strategy}
  persistentVolumeClaimRetentionPolicy: {retention}
  selector: {{matchLabels: {{app: nginx}}}}
  template:
    metadata: {{labels: {{app: nginx}}}}
    spec:
      terminationGracePeriodSeconds: 0  # no endpoint drain: deletions finish in one pass
      containers:
      - name: nginx
        image: reconciler/nginx-slim:1
        env: [{{name: VERSION, value: "{env}"}}]
        ports: [{{containerPort: 80, name: web}}]
        volumeMounts: [{{name: www, mountPath: /usr/share/nginx/html}}]
  volumeClaimTemplates:
  - metadata: {{name: www}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"""


class Cluster(harness.Cluster):
    """The shared harness, two passes a converge, with the set's views."""

    def converge(self, passes: int = 2) -> None:
        super().converge(passes)

    def pods(self) -> dict[str, str]:
        """Live pods: name -> node."""
        return {p.name: p.node_name for p in self.store.list_pods()
                if p.deletion_timestamp is None}

    def calls(self, op: str) -> list[str]:
        return [n for a in self.hosts.agents.values() for o, n in a.calls if o == op]

    def messages(self, reason: str) -> list[str]:
        events = self.store.list_events("default", "StatefulSet", "web")
        return [e.message for e in sorted(events, key=lambda e: e.first_seen or e.last_seen
                                          or datetime.min.replace(tzinfo=UTC))
                if e.reason == reason]

    def delete_pod(self, name: str) -> None:
        """As `reconciler delete pod NAME` does: mark it, the service does the rest."""
        pod = self.store.get_pod("default", name)
        assert pod is not None
        pod.deletion_timestamp = datetime.now(UTC)
        self.store.patch_pod(pod, "deletion")
        self.queue.add(WorkKey(POD, pod.uid))


@pytest.fixture
def cluster(tmp_path: Path, store_url: str) -> Iterator[Cluster]:
    """The control plane on SQLite, then on PostgreSQL (`store_url`)."""
    c = Cluster(tmp_path, store_url)
    (c.desired / "nodes.yaml").write_text(NODES)
    c.converge(1)
    yield c
    c.store.close()


class TestStatefulSetController:
    def test_ordered_creation_identity_and_claims(self, cluster: Cluster) -> None:
        """web-0 then web-1, with hostname, subdomain, labels and a claim bound to its node."""
        cluster.write("web.yaml", web(2))
        cluster.converge()
        assert cluster.messages("SuccessfulCreate") == [
            "create Claim www-web-0 Pod web-0 in StatefulSet web success",
            "create Pod web-0 in StatefulSet web successful",
            "create Claim www-web-1 Pod web-1 in StatefulSet web success",
            "create Pod web-1 in StatefulSet web successful",
        ]
        pod = cluster.store.get_pod("default", "web-1")
        assert pod is not None and pod.phase == "Running"
        assert (pod.spec["hostname"], pod.spec["subdomain"]) == ("web-1", "nginx")
        assert pod.labels["statefulset.kubernetes.io/pod-name"] == "web-1"
        assert pod.labels["apps.kubernetes.io/pod-index"] == "1"
        assert pod.labels["controller-revision-hash"].startswith("web-")
        assert pod.owner is not None and pod.owner.kind == "StatefulSet"
        assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}} in \
            pod.spec["volumes"]
        claims = {c.name: c for c in cluster.store.list_claims("default")}
        assert sorted(claims) == ["www-web-0", "www-web-1"]
        assert claims["www-web-1"].node_name == pod.node_name
        assert claims["www-web-1"].storage == "1Gi"

    def test_status(self, cluster: Cluster) -> None:
        """The set's status counts its ready pods and names its revisions."""
        cluster.write("web.yaml", web(2))
        cluster.converge()
        status = cluster.store.get_status(KEY)
        assert status is not None
        assert (status["replicas"], status["readyReplicas"], status["currentReplicas"],
                status["updatedReplicas"], status["availableReplicas"]) == (2, 2, 2, 2, 2)
        assert status["currentRevision"] == status["updateRevision"]

    def test_deleted_pod_comes_back_on_its_claims_node(self, cluster: Cluster) -> None:
        """web-0 deleted: a new web-0 (new uid) on the node holding www-web-0."""
        cluster.write("web.yaml", web(2))
        cluster.converge()
        old = cluster.store.get_pod("default", "web-0")
        assert old is not None
        cluster.delete_pod("web-0")
        cluster.converge()
        new = cluster.store.get_pod("default", "web-0")
        assert new is not None and new.uid != old.uid and new.phase == "Running"
        assert new.node_name == old.node_name
        (event,) = [e for e in cluster.store.list_events("default", "StatefulSet", "web")
                    if e.message == "create Pod web-0 in StatefulSet web successful"]
        assert event.count == 2  # aggregated, as Kubernetes counts repeated events

    def test_scaling_orders_up_and_down_and_keeps_claims(self, cluster: Cluster) -> None:
        """2 -> 4 creates web-2 then web-3; 4 -> 1 deletes web-3, web-2, web-1; claims stay."""
        cluster.write("web.yaml", web(2))
        cluster.converge()
        cluster.write("web.yaml", web(4))
        cluster.converge()
        assert [m for m in cluster.messages("SuccessfulCreate") if "Claim" not in m] == [
            f"create Pod web-{i} in StatefulSet web successful" for i in range(4)]
        assert sorted(cluster.pods()) == ["web-0", "web-1", "web-2", "web-3"]
        cluster.write("web.yaml", web(1))
        cluster.converge()
        assert cluster.messages("SuccessfulDelete") == [
            f"delete Pod web-{i} in StatefulSet web successful" for i in (3, 2, 1)]
        assert list(cluster.pods()) == ["web-0"]
        assert [c.name for c in cluster.store.list_claims("default")] == \
            [f"www-web-{i}" for i in range(4)]

    def test_parallel(self, cluster: Cluster) -> None:
        """Parallel creates every pod in one sync of the set."""
        cluster.write("web.yaml", web(3, policy="Parallel"))
        cluster.queue.add(WorkKey(DESIRED, "all"))
        cluster.loop.process(cluster.queue.get(timeout=0) or WorkKey(DESIRED, "all"))
        cluster.loop.process(WorkKey(STATEFULSET, KEY))
        assert sorted(p.name for p in cluster.store.list_pods()) == ["web-0", "web-1", "web-2"]

    def test_rolling_update_from_highest(self, cluster: Cluster) -> None:
        """A new template replaces web-2, web-1, web-0 in that order."""
        cluster.write("web.yaml", web(3))
        cluster.converge()
        first = cluster.store.get_status(KEY)
        cluster.write("web.yaml", web(3, env="two"))
        cluster.converge()
        assert cluster.messages("SuccessfulDelete") == [
            f"delete Pod web-{i} in StatefulSet web successful" for i in (2, 1, 0)]
        status = cluster.store.get_status(KEY)
        assert first is not None and status is not None
        assert status["currentRevision"] == status["updateRevision"] != first["updateRevision"]
        for p in cluster.store.list_pods():
            assert p.spec["containers"][0]["env"] == [{"name": "VERSION", "value": "two"}]

    def test_partition(self, cluster: Cluster) -> None:
        """partition 2 of 3: only web-2 is replaced."""
        cluster.write("web.yaml", web(3))
        cluster.converge()
        part = "{type: RollingUpdate, rollingUpdate: {partition: 2}}"
        cluster.write("web.yaml", web(3, env="two", strategy=part))
        cluster.converge()
        assert cluster.messages("SuccessfulDelete") == [
            "delete Pod web-2 in StatefulSet web successful"]
        status = cluster.store.get_status(KEY)
        assert status is not None and status["updatedReplicas"] == 1
        assert status["currentReplicas"] == 2

    def test_on_delete(self, cluster: Cluster) -> None:
        """OnDelete: nothing replaced until the user deletes a pod, which returns updated."""
        cluster.write("web.yaml", web(2, strategy="{type: OnDelete}"))
        cluster.converge()
        cluster.write("web.yaml", web(2, env="two", strategy="{type: OnDelete}"))
        cluster.converge()
        assert cluster.messages("SuccessfulDelete") == []
        cluster.delete_pod("web-1")
        cluster.converge()
        pods = {p.name: p for p in cluster.store.list_pods()}
        assert pods["web-1"].spec["containers"][0]["env"][0]["value"] == "two"
        assert pods["web-0"].spec["containers"][0]["env"][0]["value"] == "one"

    def test_removed_manifest_keeps_claims(self, cluster: Cluster) -> None:
        """The set's file removed: pods deleted, claims and volumes kept (Retain)."""
        cluster.write("web.yaml", web(2))
        cluster.converge()
        (cluster.desired / "web.yaml").unlink()
        cluster.converge()
        assert cluster.store.list_pods() == []
        assert len(cluster.store.list_claims("default")) == 2
        assert cluster.calls("remove_volume") == []

    def test_when_deleted_delete(self, cluster: Cluster) -> None:
        """whenDeleted Delete: the set's file removed takes its claims and volumes too."""
        cluster.write("web.yaml", web(2, retention="{whenDeleted: Delete}"))
        cluster.converge()
        (cluster.desired / "web.yaml").unlink()
        cluster.converge()
        assert cluster.store.list_pods() == []
        assert cluster.store.list_claims("default") == []
        assert sorted(cluster.calls("remove_volume")) == ["www-web-0", "www-web-1"]

    def test_when_deleted_delete_survives_a_restart(self, tmp_path: Path,
                                                     cluster: Cluster) -> None:
        """whenDeleted Delete, the file removed while the service is down: claims still go."""
        cluster.write("web.yaml", web(2, retention="{whenDeleted: Delete}"))
        cluster.converge()
        (cluster.desired / "web.yaml").unlink()
        # A new process: nothing remembered but the store.
        restarted = Cluster(tmp_path, cluster.state)
        restarted.hosts = cluster.hosts
        restarted.ctx.agent_factory = cluster.hosts
        restarted.converge()
        assert restarted.store.list_pods() == []
        assert restarted.store.list_claims("default") == []
        assert sorted(restarted.calls("remove_volume")) == ["www-web-0", "www-web-1"]
        restarted.store.close()

    def test_retention_change_moves_claim_owner(self, cluster: Cluster) -> None:
        """Retain -> whenDeleted Delete on a running set: its claims go with it after all."""
        cluster.write("web.yaml", web(2))
        cluster.converge()
        assert [c.owner for c in cluster.store.list_claims("default")] == [None, None]
        cluster.write("web.yaml", web(2, retention="{whenDeleted: Delete}"))
        cluster.converge()
        (cluster.desired / "web.yaml").unlink()
        cluster.converge()
        assert cluster.store.list_claims("default") == []

    def test_when_scaled_delete(self, cluster: Cluster) -> None:
        """whenScaled Delete: scaling 3 -> 1 removes the claims of web-1 and web-2."""
        cluster.write("web.yaml", web(3, retention="{whenScaled: Delete}"))
        cluster.converge()
        cluster.write("web.yaml", web(1, retention="{whenScaled: Delete}"))
        cluster.converge()
        assert [c.name for c in cluster.store.list_claims("default")] == ["www-web-0"]
        assert sorted(cluster.calls("remove_volume")) == ["www-web-1", "www-web-2"]

    def test_suspended(self, cluster: Cluster) -> None:
        """A set annotated reconciler.dev/suspend is left alone."""
        text = web(2).replace("metadata: {name: web}",
                              "metadata: {name: web, annotations: "
                              "{reconciler.dev/suspend: \"true\"}}")
        cluster.write("web.yaml", text)
        cluster.converge()
        assert cluster.store.list_pods() == []

    def test_lost_host_pod_waits_for_its_volume(self, cluster: Cluster) -> None:
        """A member's host lost: it is recreated, Pending on its claim's node, and runs there
        again when the host returns."""
        cluster.write("web.yaml", web(2))
        cluster.converge()
        node = cluster.pods()["web-0"]
        before = cluster.store.get_pod("default", "web-0")
        assert before is not None
        cluster.hosts.agents[node].down = True
        record = cluster.store.get_node(node)
        assert record is not None and record.last_heartbeat is not None
        record.last_heartbeat -= timedelta(minutes=5)
        cluster.store.upsert_node(record)
        cluster.converge(3)
        pod = cluster.store.get_pod("default", "web-0")
        assert pod is not None and pod.uid != before.uid, "evicted and made again"
        assert pod.phase == "Pending" and pod.node_name == ""
        events = cluster.store.list_events("default", "Pod", "web-0")
        assert any("volume node affinity conflict" in e.message for e in events), \
            [e.message for e in events]
        cluster.hosts.agents[node].down = False
        cluster.converge(3)
        pod = cluster.store.get_pod("default", "web-0")
        assert pod is not None and pod.phase == "Running" and pod.node_name == node

    def test_deleting_a_lost_hosts_claim_lets_the_member_move(self, cluster: Cluster) -> None:
        """Host lost for good: `delete pvc` drops the claim (volume left there) and the member
        runs on the other node with a new, empty claim bound there."""
        cluster.write("web.yaml", web(2))
        cluster.converge()
        lost = cluster.pods()["web-0"]
        cluster.hosts.agents[lost].down = True
        record = cluster.store.get_node(lost)
        assert record is not None and record.last_heartbeat is not None
        record.last_heartbeat -= timedelta(minutes=5)
        cluster.store.upsert_node(record)
        cluster.converge(3)
        pod = cluster.store.get_pod("default", "web-0")
        assert pod is not None and pod.phase == "Pending"
        old = cluster.store.get_claim("default", "www-web-0")
        assert old is not None and old.node_name == lost
        cluster.store.mark_claims_deleted([old], datetime.now(UTC))  # reconciler delete pvc
        cluster.queue.add(WorkKey(CLAIM, ("default", "www-web-0")))
        cluster.converge(3)
        new = cluster.store.get_claim("default", "www-web-0")
        assert new is not None and new.uid != old.uid and new.deletion_timestamp is None
        pod = cluster.store.get_pod("default", "web-0")
        assert pod is not None and pod.phase == "Running" and pod.node_name not in ("", lost)
        assert new.node_name == pod.node_name
        assert "www-web-0" not in cluster.calls("remove_volume")  # its host could not be asked
        warnings = cluster.store.list_events("default", "PersistentVolumeClaim", "www-web-0")
        assert [e.reason for e in warnings] == ["VolumeLeftOnNode"]

    def test_adopts_orphan_member(self, cluster: Cluster) -> None:
        """A standalone pod named web-0 with the set's labels is adopted and given its identity."""
        (cluster.desired / "pod.yaml").write_text(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web-0, labels: {app: nginx}}\n"
            "spec: {containers: [{name: nginx, image: reconciler/nginx-slim:1}]}\n")
        cluster.converge()
        uid = cluster.store.get_pod("default", "web-0")
        # OnDelete: under RollingUpdate the orphan, having no revision label, would be
        # replaced next, as in Kubernetes.
        cluster.write("web.yaml", web(2, strategy="{type: OnDelete}"))
        cluster.converge()
        pod = cluster.store.get_pod("default", "web-0")
        assert pod is not None and uid is not None and pod.uid == uid.uid
        assert pod.owner is not None and pod.owner.kind == "StatefulSet"
        assert pod.labels["statefulset.kubernetes.io/pod-name"] == "web-0"
        assert sorted(cluster.pods()) == ["web-0", "web-1"]
