"""The controllers together on a real SQLite store, with in-memory hosts (FakeHosts).

Fast and deterministic: the work queue is drained synchronously, so each test
reads as "declare, converge, check". The real Docker driver is covered by
tests/integration/runtime and the whole service by tests/e2e.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.api.types import Key
from reconciler.control.context import NODE_GC
from reconciler.control.loop import WorkKey
from reconciler.runtime.types import ObservedPod
from tests.integration.control.harness import Cluster, rc

NODES = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: a, labels: {zone: one}}
spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}
---
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: b, labels: {zone: two}}
spec: {engine: "unix:///fake/b.sock", address: 10.250.0.2}
"""


@pytest.fixture
def cluster(tmp_path: Path, store_url: str) -> Iterator[Cluster]:
    """The control plane on SQLite, then on PostgreSQL (`store_url`)."""
    c = Cluster(tmp_path, store_url)
    c.write("nodes.yaml", NODES)
    yield c
    c.store.close()


def converge_twice(c: Cluster) -> None:
    """Nodes register on the first pass; pods bind once they are Ready."""
    c.converge()
    c.converge()


class TestReplication:
    def test_creates_the_replicas_once(self, cluster: Cluster) -> None:
        """An RC of 3 gives 3 running pods; converging again creates nothing more."""
        cluster.write("web.yaml", rc(3))
        converge_twice(cluster)
        assert len(cluster.running()) == 3
        assert cluster.hosts.creates() == 3
        cluster.converge()
        assert cluster.hosts.creates() == 3
        status = cluster.store.get_status(Key("ReplicationController", "default", "web"))
        assert status is not None and status["replicas"] == 3 and status["readyReplicas"] == 3

    def test_spreads_over_nodes(self, cluster: Cluster) -> None:
        """Four replicas land two on each equal node."""
        cluster.write("web.yaml", rc(4))
        converge_twice(cluster)
        nodes = [p.node_name for p in cluster.store.list_pods()]
        assert sorted(nodes) == ["a", "a", "b", "b"]

    def test_adopts_a_matching_pod(self, cluster: Cluster) -> None:
        """A standalone pod with matching labels is adopted: only one new pod for 2 replicas."""
        cluster.write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: "
                      "{app: web}}\nspec: {containers: [{name: web, image: x}]}\n")
        converge_twice(cluster)
        cluster.write("web.yaml", rc(2))
        cluster.converge()
        pods = {p.name: p for p in cluster.store.list_pods()}
        assert len(pods) == 2 and "web" in pods
        owner = pods["web"].owner
        assert owner is not None and owner.name == "web"
        assert pods["web"].node_name, "adoption keeps the binding the scheduler made"

    def test_scale_down_empties_the_crowded_node_first(self, cluster: Cluster) -> None:
        """From 3 to 1: as Kubernetes ranks them, pods doubled up on a node go before age."""
        cluster.write("web.yaml", rc(3))
        converge_twice(cluster)
        by_node = {p.name: p.node_name for p in cluster.store.list_pods()}
        crowded = max(set(by_node.values()), key=list(by_node.values()).count)
        cluster.write("web.yaml", rc(1))
        cluster.converge()
        (survivor,) = cluster.running()
        assert by_node[survivor] != crowded
        kills = [n for a in cluster.hosts.agents.values() for op, n in a.calls if op == "kill"]
        assert sorted(kills) == sorted(n for n, node in by_node.items() if node == crowded)

    def test_removed_manifest_collects_pods(self, cluster: Cluster) -> None:
        """Deleting the RC's file deletes its pods."""
        cluster.write("web.yaml", rc(2))
        converge_twice(cluster)
        (cluster.desired / "web.yaml").unlink()
        cluster.converge()
        assert cluster.store.list_pods() == []

    def test_invalid_file_keeps_everything(self, cluster: Cluster) -> None:
        """A broken file keeps its objects (stale) and kills nothing."""
        cluster.write("web.yaml", rc(2))
        converge_twice(cluster)
        cluster.write("web.yaml", "kind: ReplicationController\n  bad: [\n")
        cluster.converge()
        assert len(cluster.running()) == 2
        obj = cluster.store.get_object(Key("ReplicationController", "default", "web"))
        assert obj is not None and obj.stale
        assert not any(op == "kill" for a in cluster.hosts.agents.values() for op, _ in a.calls)


class TestScheduling:
    def test_unschedulable_pod_stays_pending(self, cluster: Cluster) -> None:
        """A nodeSelector no node matches: Pending with Kubernetes' FailedScheduling words."""
        cluster.write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                      "  nodeSelector: {zone: three}\n  containers: [{name: c, image: x}]\n")
        converge_twice(cluster)
        pod = cluster.store.get_pod("default", "p")
        assert pod is not None and pod.phase == "Pending" and not pod.node_name
        events = cluster.store.list_events("default", "Pod", "p")
        assert [e.message for e in events if e.reason == "FailedScheduling"][-1] == (
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")


class TestNodes:
    def test_dead_host_pods_move(self, cluster: Cluster) -> None:
        """A host that stops answering: NotReady, its pods replaced on the other host."""
        cluster.write("web.yaml", rc(2))
        converge_twice(cluster)
        cluster.hosts.agents["a"].down = True
        node = cluster.store.get_node("a")
        assert node is not None and node.last_heartbeat is not None
        node.last_heartbeat -= timedelta(minutes=5)
        cluster.store.upsert_node(node)
        for _ in range(3):
            cluster.converge()
        a = cluster.store.get_node("a")
        assert a is not None and not a.ready
        assert {p.node_name for p in cluster.store.list_pods()} == {"b"}
        assert len(cluster.running()) == 2

    def test_silent_host_pods_are_not_ready_before_eviction(self, cluster: Cluster) -> None:
        """A host that stops answering: its pods turn not ready at once (out of the Endpoints'
        addresses) though not evicted yet; ready again once it answers."""
        cluster.ctx.settings.eviction_timeout = 3600
        cluster.write("svc.yaml", TestServices.SVC)
        cluster.write("web.yaml", rc(2))
        converge_twice(cluster)
        on_a = {p.name for p in cluster.store.list_pods() if p.node_name == "a"}
        assert on_a and all(p.ready for p in cluster.store.list_pods())
        cluster.hosts.agents["a"].down = True
        node = cluster.store.get_node("a")
        assert node is not None and node.last_heartbeat is not None
        node.last_heartbeat -= timedelta(minutes=5)
        cluster.store.upsert_node(node)
        cluster.converge()
        pods = {p.name: p for p in cluster.store.list_pods()}
        assert on_a <= set(pods) and not any(pods[n].deletion_timestamp for n in on_a)
        assert not any(pods[n].ready for n in on_a)
        eps = cluster.store.get_endpoints("default", "web")
        assert eps is not None
        ready = [a for s in eps.subsets for a in s.get("addresses") or []]
        assert len(ready) == 2 - len(on_a), eps.subsets
        cluster.hosts.agents["a"].down = False
        cluster.converge(2)
        assert all(p.ready for p in cluster.store.list_pods())

    def test_orphans_are_removed(self, cluster: Cluster) -> None:
        """Containers of a pod the store does not know are removed by the node's GC."""
        converge_twice(cluster)
        agent = cluster.hosts.agents["a"]
        agent.pods["stray"] = ObservedPod("stray", "stray", "default", [])
        cluster.queue.add(WorkKey(NODE_GC, "a"))
        cluster.converge()
        assert "stray" not in agent.pods


class TestServices:
    SVC = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""

    def test_endpoints_and_stable_cluster_ip(self, cluster: Cluster) -> None:
        """Endpoints list the ready pods on the named port; the cluster IP survives reconciles."""
        cluster.write("svc.yaml", self.SVC)
        cluster.write("web.yaml", rc(2))
        converge_twice(cluster)
        key = Key("Service", "default", "web")
        status = cluster.store.get_status(key)
        assert status is not None and status["clusterIP"].startswith("10.96.")
        eps = cluster.store.get_endpoints("default", "web")
        assert eps is not None
        (subset,) = eps.subsets
        assert len(subset["addresses"]) == 2 and subset["ports"][0]["port"] == 8080
        cluster.converge()
        assert cluster.store.get_status(key) == status

    def test_pods_started_after_the_service_get_its_env(self, cluster: Cluster) -> None:
        """WEB_SERVICE_HOST and friends reach pods created once the service exists."""
        cluster.write("svc.yaml", self.SVC)
        converge_twice(cluster)
        cluster.write("api.yaml", rc(1, "api"))
        cluster.converge()
        (pod,) = cluster.store.list_pods()
        env = dict(cluster.hosts.agents[pod.node_name].envs[pod.uid].env)
        ip = cluster.store.get_status(Key("Service", "default", "web"))["clusterIP"]  # type: ignore[index]
        assert env["WEB_SERVICE_HOST"] == ip
        assert env["WEB_PORT"] == f"tcp://{ip}:80"


class TestLabels:
    def test_label_edit_moves_a_pod_out_of_its_controller_and_service(
        self, cluster: Cluster
    ) -> None:
        """Relabelling a manifest pod releases it and drops it from endpoints, without a restart."""
        pod = ("apiVersion: v1\nkind: Pod\nmetadata: {{name: solo, labels: {{app: {app}}}}}\n"
               "spec: {{containers: [{{name: web, image: x, ports: [{{containerPort: 8080, "
               "name: http}}]}}]}}\n")
        cluster.write("svc.yaml", TestServices.SVC)
        cluster.write("solo.yaml", pod.format(app="web"))
        cluster.write("web.yaml", rc(2))
        converge_twice(cluster)
        solo = cluster.store.get_pod("default", "solo")
        assert solo is not None and solo.owner is not None  # adopted
        creates = cluster.hosts.creates()

        cluster.write("solo.yaml", pod.format(app="other"))
        cluster.converge()
        solo = cluster.store.get_pod("default", "solo")
        assert solo is not None and solo.owner is None and solo.labels == {"app": "other"}
        owned = [p for p in cluster.store.list_pods() if p.owner is not None]
        assert len(owned) == 2, "the RC made a replacement for the released pod"
        assert cluster.hosts.creates() == creates + 1, "only the replacement; solo kept running"
        eps = cluster.store.get_endpoints("default", "web")
        assert eps is not None
        ips = {a["ip"] for s in eps.subsets for a in s["addresses"]}
        assert solo.pod_ip not in ips and len(ips) == 2


class TestSuspend:
    def test_suspended_controller_is_left_alone(self, cluster: Cluster) -> None:
        """An RC annotated reconciler.dev/suspend: "true" neither creates nor deletes."""
        cluster.write("web.yaml", rc(1))
        converge_twice(cluster)
        suspended = rc(3).replace("metadata: {name: web}",
                                  'metadata: {name: web, annotations: '
                                  '{"reconciler.dev/suspend": "true"}}')
        cluster.write("web.yaml", suspended)
        cluster.converge()
        assert len(cluster.running()) == 1
        cluster.write("web.yaml", rc(3))
        cluster.converge()
        assert len(cluster.running()) == 3
