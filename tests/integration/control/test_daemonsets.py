"""The DaemonSet controller with the other controllers, on a real store and FakeHosts; the CLI
(`get ds`, `describe ds`) on the store it leaves."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.api.types import Key
from reconciler.control.daemonsets import DAEMONSET
from reconciler.control.loop import WorkKey
from tests.integration.control import harness

CLI = str(Path(sys.executable).with_name("reconciler"))
KEY = Key("DaemonSet", "default", "agent")


def nodes(b_labels: str = "{agent: 'yes'}", c: bool = False) -> str:
    docs = [
        "apiVersion: reconciler.dev/v1\nkind: Node\nmetadata: {name: a, labels: {agent: 'yes'}}\n"
        'spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}\n',
        f"apiVersion: reconciler.dev/v1\nkind: Node\nmetadata: {{name: b, labels: {b_labels}}}\n"
        'spec: {engine: "unix:///fake/b.sock", address: 10.250.0.2}\n',
    ]
    if c:
        docs.append("apiVersion: reconciler.dev/v1\nkind: Node\n"
                    "metadata: {name: c, labels: {agent: 'yes'}}\n"
                    'spec: {engine: "unix:///fake/c.sock", address: 10.250.0.3}\n')
    return "---\n".join(docs)


def agent(image: str = "agent:1") -> str:
    return f"""\
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      nodeSelector: {{agent: "yes"}}
      containers:
      - name: agent
        image: {image}
        ports: [{{containerPort: 8080, hostPort: 24224}}]
"""


class Cluster(harness.Cluster):
    def converge(self, passes: int = 3) -> None:
        for _ in range(passes):
            for obj in self.store.objects(kind="DaemonSet"):
                self.queue.add(WorkKey(DAEMONSET, obj.key))
            super().converge(1)

    def live(self) -> dict[str, list[str]]:
        """node -> names of its live pods of the set."""
        out: dict[str, list[str]] = {}
        for p in self.store.list_pods():
            if p.deletion_timestamp is None and p.owner is not None \
                    and p.owner.kind == "DaemonSet":
                out.setdefault(str(p.spec.get("nodeName")), []).append(p.name)
        return out


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.write("nodes.yaml", nodes())
    c.write("agent.yaml", agent())
    c.converge()
    yield c
    c.store.close()


def cli(*args: str, state: str) -> str:
    proc = subprocess.run([CLI, *args, "--state", state], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


class TestDaemonSetController:
    def test_one_pod_per_matching_node(self, cluster: Cluster) -> None:
        """Each matching node gets one pod <ds>-xxxxx bound to it and run there."""
        live = cluster.live()
        assert sorted(live) == ["a", "b"] and all(len(v) == 1 for v in live.values())
        for names in live.values():
            pod = cluster.store.get_pod("default", names[0])
            assert pod is not None and pod.name.startswith("agent-") and len(pod.name) == 11
            assert pod.node_name == pod.spec["nodeName"]
            assert any(t["key"] == "node.kubernetes.io/unschedulable"
                       for t in pod.spec["tolerations"])
        obj = cluster.store.get_object(KEY)
        assert obj is not None and obj.status is not None
        assert obj.status["desiredNumberScheduled"] == 2
        assert obj.status["currentNumberScheduled"] == 2

    def test_relabel_register_and_roll(self, cluster: Cluster) -> None:
        """A node that stops matching loses its pod, a new node gets one, a template change
        replaces every pod with one of the new template, one per node."""
        # Without the DaemonSet's own keys: the node controller's change enqueues it.
        cluster.write("nodes.yaml", nodes("{agent: 'no'}"))
        harness.Cluster.converge(cluster, 3)
        assert sorted(cluster.live()) == ["a"]
        cluster.write("nodes.yaml", nodes("{agent: 'no'}", c=True))
        harness.Cluster.converge(cluster, 3)
        assert sorted(cluster.live()) == ["a", "c"]
        before = {n: v[0] for n, v in cluster.live().items()}
        cluster.write("agent.yaml", agent("agent:2"))
        cluster.converge(8)
        after = cluster.live()
        assert sorted(after) == ["a", "c"] and all(len(v) == 1 for v in after.values())
        assert all(after[n][0] != before[n] for n in after)
        for names in after.values():
            pod = cluster.store.get_pod("default", names[0])
            assert pod is not None and pod.spec["containers"][0]["image"] == "agent:2"

    def test_daemon_pod_stays_on_a_dead_host(self, cluster: Cluster) -> None:
        """A host that stops answering past the eviction timeout keeps its daemon pod (it
        tolerates not-ready NoExecute) and gets no second one."""
        before = cluster.live()
        cluster.hosts.agents["a"].down = True
        node = cluster.store.get_node("a")
        assert node is not None and node.last_heartbeat is not None
        node.last_heartbeat -= timedelta(minutes=5)
        cluster.store.upsert_node(node)
        cluster.converge()
        a = cluster.store.get_node("a")
        assert a is not None and not a.ready
        assert cluster.live() == before

    def test_invalid_node_affinity_edit_keeps_the_pods(self, cluster: Cluster) -> None:
        """An edit to a nodeAffinity term the matcher cannot use (In without values) is
        refused: the last valid set is kept (stale) and no pod is deleted."""
        before = cluster.live()
        cluster.write("agent.yaml", agent().replace(
            "      nodeSelector:", "      affinity: {nodeAffinity: "
            "{requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
            "[{matchExpressions: [{key: agent, operator: In}]}]}}}\n      nodeSelector:"))
        cluster.converge()
        assert cluster.live() == before
        obj = cluster.store.get_object(KEY)
        assert obj is not None and obj.stale and "affinity" not in obj.body["spec"]["template"][
            "spec"]
        events = cluster.store.list_events("default", "DaemonSet", "agent")
        assert any(e.reason == "InvalidManifest" and "matchExpressions[0].values" in e.message
                   for e in events)

    def test_deleted_set_takes_its_pods(self, cluster: Cluster) -> None:
        """Removing the manifest removes the pods."""
        (cluster.desired / "agent.yaml").unlink()
        cluster.converge()
        assert cluster.live() == {}


class TestDaemonSetCli:
    def test_get_and_describe(self, cluster: Cluster) -> None:
        """get ds prints kubectl's columns; describe ds kubectl's fields and the events."""
        lines = cli("get", "ds", state=cluster.state).splitlines()
        assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE",
                                    "AVAILABLE", "NODE", "SELECTOR", "AGE"]
        assert lines[1].split()[:3] == ["agent", "2", "2"]
        assert lines[1].split()[6] == "agent=yes"
        out = cli("describe", "daemonset", "agent", state=cluster.state)
        keys = [line.split(":")[0] for line in out.splitlines()
                if line and not line.startswith(" ")]
        assert keys[:11] == ["Name", "Namespace", "Selector", "Node-Selector", "Labels",
                             "Annotations", "Desired Number of Nodes Scheduled",
                             "Current Number of Nodes Scheduled",
                             "Number of Nodes Scheduled with Up-to-date Pods",
                             "Number of Nodes Scheduled with Available Pods",
                             "Number of Nodes Misscheduled"]
        assert "SuccessfulCreate" in out and "Created pod: agent-" in out
