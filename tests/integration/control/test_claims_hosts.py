"""A claim bound to the second Docker host, with the real driver on two real engines.

The controllers run on a real SQLite store against the local engine and hostb
(scripts/hostb.sh): the pod goes to the host holding its volume only; when that
host stops answering the replacement pod stays Pending with the scheduler's
reason, and when it is back the replacement runs there with the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from reconciler.api.records import ClaimRecord
from reconciler.api.types import Key
from reconciler.control.claims import CLAIM, ClaimController
from reconciler.control.context import POD, REPLICATION
from reconciler.control.loop import WorkKey
from reconciler.runtime import naming
from reconciler.runtime.agent import NodeAgent
from reconciler.runtime.port import docker_agent
from reconciler.runtime.types import RuntimeConfig
from tests.conftest import LOCAL_URL, TEST_LABEL, Host
from tests.integration.control.harness import Cluster

pytestmark = pytest.mark.docker

NODES = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {{name: local}}
spec: {{engine: "{local}"}}
---
apiVersion: reconciler.dev/v1
kind: Node
metadata: {{name: hostb}}
spec: {{engine: "{hostb}", address: {address}}}
"""
DB = """\
apiVersion: v1
kind: ReplicationController
metadata: {{name: db}}
spec:
  replicas: 1
  selector: {{app: db}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      terminationGracePeriodSeconds: 0
      volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}]
      containers:
      - name: db
        image: reconciler/busybox:1
        command: [sleep, "3600"]
        volumeMounts: [{{name: data, mountPath: /data}}]
"""


@pytest.fixture
def cluster(tmp_path: Path, test_prefix: str, hostb: Host) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.ctx.agent_factory = docker_agent
    c.ctx.runtime = RuntimeConfig(prefix=test_prefix, extra_labels={TEST_LABEL: "1"},
                                  stop_timeout=1, unreachable_cooldown=0.5)
    c.ctx.settings.heartbeat_interval = 0.5
    c.controllers[CLAIM] = ClaimController(c.ctx)
    yield c
    for agent in c.ctx.agents().values():
        agent.close()
    c.store.close()


def settle(c: Cluster, until: Callable[[], bool], timeout: float = 60.0) -> None:
    """Converge, re-running every delayed key now, until `until()` holds."""
    deadline = time.monotonic() + timeout
    while True:
        c.converge()
        for pod in c.store.list_pods():
            c.queue.add(WorkKey(POD, pod.uid))
        c.queue.add(WorkKey(REPLICATION, Key("ReplicationController", "default", "db")))
        c.converge()
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled: {c.store.list_pods()}")
        time.sleep(0.3)


def hostb_agent(c: Cluster) -> NodeAgent:
    node = c.store.get_node("hostb")
    assert node is not None
    agent = c.ctx.agent(node)
    assert isinstance(agent, NodeAgent)
    return agent


def db_pod(c: Cluster, phase: str, node: str = "") -> bool:
    pods = [p for p in c.store.list_pods() if p.deletion_timestamp is None]
    return len(pods) == 1 and pods[0].phase == phase and pods[0].node_name == node and (
        phase != "Running" or all(s.state == "running" for s in pods[0].containers))


class TestClaimOnSecondHost:
    def test_pod_follows_its_volume(self, cluster: Cluster, hostb: Host, test_prefix: str) -> None:
        """Placed on hostb only; Pending with the reason while hostb is down; back with its data."""
        claim = f"data-{test_prefix}-0"
        nodes = NODES.format(local=LOCAL_URL, hostb=hostb.url, address=hostb.address)
        cluster.write("nodes.yaml", nodes)
        cluster.converge()
        cluster.store.ensure_claims([ClaimRecord("default", claim, "", None)])
        assert cluster.store.bind_claim("default", claim, "hostb")
        cluster.write("db.yaml", DB.format(claim=claim))
        settle(cluster, lambda: db_pod(cluster, "Running", "hostb"))
        (pod,) = cluster.store.list_pods()
        wrote = hostb_agent(cluster).exec(pod.uid, "db", ["sh", "-c", "echo kept > /data/f"])
        assert wrote.exit_code == 0
        remote = docker.DockerClient(base_url=hostb.url)
        try:
            labels = remote.api.inspect_volume(claim)["Labels"]
            assert labels[naming.CLAIM_NAME] == claim and naming.POD_UID not in labels
        finally:
            remote.close()

        cluster.write("nodes.yaml", nodes.replace(hostb.url, "unix:///var/run/docker-gone.sock"))
        settle(cluster, lambda: db_pod(cluster, "Pending"))
        events = cluster.store.list_events("default", "Pod")
        assert [e.message for e in events if e.reason == "FailedScheduling"][-1] == (
            "0/2 nodes are available: 1 node(s) had untolerated taint "
            "{node.kubernetes.io/not-ready: }, 1 node(s) had volume node affinity conflict.")

        cluster.write("nodes.yaml", nodes)
        settle(cluster, lambda: db_pod(cluster, "Running", "hostb"))
        (pod,) = cluster.store.list_pods()
        got = hostb_agent(cluster).exec(pod.uid, "db", ["cat", "/data/f"])
        assert got.exit_code == 0 and got.output.decode().strip() == "kept"
