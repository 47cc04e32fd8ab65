"""The Deployment controller with the others, on a real store (SQLite and PostgreSQL), fake hosts.

Declare, converge, check: the queue is drained synchronously (harness.Cluster),
fake hosts make every pod Running and ready at its first sync. The real engine
is tests/e2e/test_deployments.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.api.defaults import apply_defaults
from reconciler.api.types import Key
from reconciler.control.deployments import DEPLOYMENT
from reconciler.control.loop import WorkKey
from reconciler.planning.deployment import (
    HASH_LABEL,
    REVISION,
    deployment_from_body,
    owned_source,
    pod_template_hash,
    replica_set_body,
)
from reconciler.store.records import ObjectRecord
from tests.integration.control.harness import Cluster

KEY = Key("Deployment", "default", "web")
NODES = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: a}
spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}
"""


def deployment(image: str = "reconciler/busybox:1", replicas: int = 3, extra: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
{extra}  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: {image}
"""


@pytest.fixture
def cluster(tmp_path: Path, store_url: str) -> Iterator[Cluster]:
    """The control plane on SQLite, then on PostgreSQL (`store_url`)."""
    c = Cluster(tmp_path, store_url)
    c.write("nodes.yaml", NODES)
    yield c
    c.store.close()


def settle(c: Cluster, passes: int = 12) -> None:
    """Converge, with the Deployment's key each pass standing in for its delayed requeues."""
    for _ in range(passes):
        c.queue.add(WorkKey(DEPLOYMENT, KEY))
        c.converge()


def replica_sets(c: Cluster) -> list[ObjectRecord]:
    return c.store.objects(kind="ReplicaSet", namespace="default")


def sizes(c: Cluster) -> dict[str, int]:
    return {rs.key.name: rs.body["spec"]["replicas"] for rs in replica_sets(c)}


def live_pods(c: Cluster) -> list[str]:
    return sorted(p.name for p in c.store.list_pods() if p.deletion_timestamp is None)


class TestDeploymentController:
    def test_runs_its_replicas_through_one_replica_set(self, cluster: Cluster) -> None:
        """3 replicas: one RS `web-<hash>` with the hash label, 3 running pods, status complete."""
        cluster.write("web.yaml", deployment())
        settle(cluster)
        [rs] = replica_sets(cluster)
        h = rs.body["metadata"]["labels"][HASH_LABEL]
        assert rs.key.name == f"web-{h}" and rs.source_file == owned_source("default", "web")
        assert rs.body["metadata"]["annotations"][REVISION] == "1"
        assert len(cluster.running()) == 3
        assert all(p.startswith(f"web-{h}-") for p in cluster.running())
        status = cluster.store.get_status(KEY)
        assert status is not None
        assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) \
            == (3, 3, 3)
        reasons = {c["type"]: c["reason"] for c in status["conditions"]}
        assert reasons == {"Available": "MinimumReplicasAvailable",
                           "Progressing": "NewReplicaSetAvailable"}

    @pytest.mark.parametrize("api_version", ["apps/v1beta2", "apps/v1beta1",
                                             "extensions/v1beta1"])
    def test_older_api_versions_run(self, cluster: Cluster, api_version: str) -> None:
        """The older apiVersions real repositories carry run the same way."""
        cluster.write("web.yaml", deployment().replace("apps/v1", api_version))
        settle(cluster)
        [rs] = replica_sets(cluster)
        assert rs.body["metadata"]["ownerReferences"][0]["apiVersion"] == api_version
        assert len(cluster.running()) == 3

    def test_recreate_replaces_every_pod(self, cluster: Cluster) -> None:
        """Recreate: the old RS goes to 0 before the new one gets all 3."""
        extra = "  strategy: {type: Recreate}\n"
        cluster.write("web.yaml", deployment(extra=extra))
        settle(cluster)
        [first] = replica_sets(cluster)
        cluster.write("web.yaml", deployment("reconciler/busybox:2", extra=extra))
        settle(cluster)
        assert sizes(cluster)[first.key.name] == 0
        assert sorted(sizes(cluster).values()) == [0, 3] and len(cluster.running()) == 3
        ups = [e.message for e in cluster.store.list_events()
               if e.kind == "Deployment" and e.message.startswith("Scaled up")]
        assert len(ups) == 2 and all("from 0 to 3" in m for m in ups), ups

    def test_recreate_wakes_when_the_last_old_pod_is_gone(self, cluster: Cluster) -> None:
        """Recreate starts the new pods on the old pods' removal itself, not on a later poll."""
        extra = "  strategy: {type: Recreate}\n"
        cluster.write("web.yaml", deployment(extra=extra))
        settle(cluster)
        cluster.write("web.yaml", deployment("reconciler/busybox:2", extra=extra))
        cluster.converge(passes=6)  # no Deployment key standing in for its requeues
        assert sorted(sizes(cluster).values()) == [0, 3] and len(cluster.running()) == 3

    def test_paused_then_resumed(self, cluster: Cluster) -> None:
        """Paused: a new template waits, replicas still scale; resumed: it rolls."""
        cluster.write("web.yaml", deployment())
        settle(cluster)
        cluster.write("web.yaml", deployment("reconciler/busybox:2", replicas=4,
                                             extra="  paused: true\n"))
        settle(cluster)
        assert list(sizes(cluster).values()) == [4]
        status = cluster.store.get_status(KEY)
        assert status is not None
        progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
        assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
        cluster.write("web.yaml", deployment("reconciler/busybox:2", replicas=4))
        settle(cluster)
        assert sorted(sizes(cluster).values()) == [0, 4]

    def test_image_change_rolls_to_a_new_replica_set(self, cluster: Cluster) -> None:
        """A new image: a second RS takes all 3 replicas, the first is kept at 0."""
        cluster.write("web.yaml", deployment())
        settle(cluster)
        [first] = replica_sets(cluster)
        cluster.write("web.yaml", deployment("reconciler/busybox:2"))
        settle(cluster)
        assert sizes(cluster)[first.key.name] == 0
        assert sorted(sizes(cluster).values()) == [0, 3]
        assert len(cluster.running()) == 3
        events = [e.message for e in cluster.store.list_events()
                  if e.kind == "Deployment" and e.reason == "ScalingReplicaSet"]
        assert any(m.startswith("Scaled down replica set " + first.key.name) for m in events)

    def test_rollback_scales_the_old_replica_set_up(self, cluster: Cluster) -> None:
        """Restoring the old template brings back the first RS by name, revision 3."""
        cluster.write("web.yaml", deployment())
        settle(cluster)
        [first] = replica_sets(cluster)
        cluster.write("web.yaml", deployment("reconciler/busybox:2"))
        settle(cluster)
        cluster.write("web.yaml", deployment())
        settle(cluster)
        assert len(replica_sets(cluster)) == 2
        back = cluster.store.get_object(first.key)
        assert back is not None and back.uid == first.uid
        assert back.body["spec"]["replicas"] == 3
        assert back.body["metadata"]["annotations"][REVISION] == "3"

    def test_restart_makes_no_second_replica_set(self, cluster: Cluster,
                                                 tmp_path: Path) -> None:
        """A new control plane on the same store finds the same RS by name: nothing new."""
        cluster.write("web.yaml", deployment())
        settle(cluster)
        before = {rs.key.name: rs.uid for rs in replica_sets(cluster)}
        pods = live_pods(cluster)
        again = Cluster(tmp_path, cluster.state)
        try:
            settle(again)
            assert {rs.key.name: rs.uid for rs in replica_sets(again)} == before
            assert live_pods(again) == pods
        finally:
            again.store.close()

    def test_deleted_deployment_takes_its_replica_sets_and_pods(self,
                                                               cluster: Cluster) -> None:
        """Removing the manifest removes its ReplicaSets, then their pods."""
        path = cluster.write("web.yaml", deployment())
        settle(cluster)
        path.unlink()
        settle(cluster)
        assert replica_sets(cluster) == [] and live_pods(cluster) == []

    def test_desired_pass_keeps_controller_replica_sets(self, cluster: Cluster) -> None:
        """The folder never declares the RSs, and the desired pass never prunes them."""
        cluster.write("web.yaml", deployment())
        settle(cluster)
        names = sizes(cluster)
        cluster.write("other.yaml", deployment().replace("name: web", "name: other")
                      .replace("app: web", "app: other"))
        cluster.converge()
        assert set(names) <= set(sizes(cluster))

    def test_adopts_an_orphan_replica_set(self, cluster: Cluster) -> None:
        """An RS left by a gone Deployment of the same template is adopted, not duplicated."""
        body = apply_defaults({"apiVersion": "apps/v1", "kind": "Deployment",
                               "metadata": {"name": "web", "namespace": "default"},
                               "spec": {"replicas": 3,
                                        "selector": {"matchLabels": {"app": "web"}},
                                        "template": {"metadata": {"labels": {"app": "web"}},
                                                     "spec": {"containers": [{
                                                         "name": "web",
                                                         "image": "reconciler/busybox:1"}]}}}})
        gone = deployment_from_body(body, "gone-uid")
        name, rs = replica_set_body(gone, 0)
        rs["spec"]["replicas"] = 3
        cluster.store.write_owned(owned_source("default", "web"),
                                  [(Key("ReplicaSet", "default", name), rs)])
        cluster.write("web.yaml", deployment())
        settle(cluster)
        [adopted] = replica_sets(cluster)
        assert adopted.key.name == name
        assert adopted.body["metadata"]["ownerReferences"][0]["uid"] != "gone-uid"
        assert name == f"web-{pod_template_hash(gone.template)}"
        assert len(cluster.running()) == 3

    def test_manifest_replica_set_of_the_same_name_wins(self, cluster: Cluster) -> None:
        """A ReplicaSet a manifest declares is never overwritten by the controller."""
        cluster.write("web.yaml", deployment())
        settle(cluster)
        [rs] = replica_sets(cluster)
        refused = cluster.store.write_owned(owned_source("default", "x"), [(rs.key, rs.body)])
        assert refused == []  # another controller's: taken over (adoption)
        manifest = f"""\
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: {rs.key.name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: other}}}}
  template:
    metadata: {{labels: {{app: other}}}}
    spec: {{containers: [{{name: c, image: reconciler/busybox:1}}]}}
"""
        cluster.write("rs.yaml", manifest)
        cluster.converge()
        got = cluster.store.get_object(rs.key)
        assert got is not None and got.source_file.endswith("rs.yaml")
        assert cluster.store.write_owned(owned_source("default", "web"),
                                         [(rs.key, rs.body)]) == [rs.key]


class TestHostLost:
    def test_rollout_finishes_on_the_host_left(self, cluster: Cluster) -> None:
        """A host lost mid-rollout: once its pods are evicted (timeout 0 here), the rollout
        completes on the other host, within replicas + maxSurge live pods."""
        cluster.write("nodes.yaml", NODES + """\
---
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: b}
spec: {engine: "unix:///fake/b.sock", address: 10.250.0.2}
""")
        cluster.write("web.yaml", deployment(replicas=4))
        settle(cluster)
        assert {p.node_name for p in cluster.store.list_pods()} == {"a", "b"}
        cluster.write("web.yaml", deployment("reconciler/busybox:2", replicas=4))
        cluster.queue.add(WorkKey(DEPLOYMENT, KEY))
        cluster.converge()  # the rollout under way
        assert len(sizes(cluster)) == 2
        cluster.hosts.agents["b"].down = True
        node = cluster.store.get_node("b")
        assert node is not None and node.last_heartbeat is not None
        node.last_heartbeat -= timedelta(minutes=5)
        cluster.store.upsert_node(node)
        for _ in range(12):
            settle(cluster, passes=1)
            live = [p for p in cluster.store.list_pods() if p.deletion_timestamp is None]
            assert len(live) <= 4 + 1, [(p.name, p.node_name) for p in live]
        new = [n for n, size in sizes(cluster).items() if size == 4]
        assert len(new) == 1 and sorted(sizes(cluster).values()) == [0, 4]
        running = cluster.running()
        assert len(running) == 4 and all(n.startswith(new[0]) for n in running)
        assert {p.node_name for p in cluster.store.list_pods()
                if p.deletion_timestamp is None} == {"a"}

