"""A deleted pod's drain waits for the proxies' acknowledgements: the pod controller on a real
store (SQLite, then PostgreSQL) with fake hosts (tests/integration/control/harness.py).

The proxies are stood in for by their ack rows (`Store.ack_proxy`), written by the
test: what a running proxy writes once its rules lack the pod. The e2e test
(tests/e2e/test_services.py, TestDrainWaitsForProxies) runs the real proxies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.api.records import PodRecord
from reconciler.control import pods
from reconciler.control.context import POD
from reconciler.control.loop import WorkKey
from tests.integration.control.harness import TWO_NODES as NODES
from tests.integration.control.harness import Cluster

SVC = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""
POD_TEXT = """\
apiVersion: v1
kind: Pod
metadata: {name: web-0, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 30
  containers: [{name: web, image: x, ports: [{containerPort: 8080}]}]
"""


@pytest.fixture
def cluster(tmp_path: Path, store_url: str) -> Iterator[Cluster]:
    """A Service over one serving pod, both proxies acknowledged at the current revision."""
    c = Cluster(tmp_path, store_url)
    c.write("nodes.yaml", NODES)
    c.write("svc.yaml", SVC)
    c.write("web-0.yaml", POD_TEXT)
    c.converge()
    c.converge()
    eps = c.store.get_endpoints("default", "web")
    assert eps is not None and len(eps.subsets[0]["addresses"]) == 1
    for node in ("a", "b"):
        c.store.ack_proxy(node, c.store.endpoints_revision(), "iptables")
    yield c
    c.store.close()


def deleting(c: Cluster) -> PodRecord:
    """Remove the pod's manifest and let everything but the delayed drain run."""
    (c.desired / "web-0.yaml").unlink()
    c.converge()
    pod = c.store.get_pod("default", "web-0")
    assert pod is not None and pod.deletion_timestamp is not None
    eps = c.store.get_endpoints("default", "web")
    assert eps is not None and not any(s.get("addresses") for s in eps.subsets)
    return pod


def drain(c: Cluster, pod: PodRecord) -> float | None:
    """One reconcile of the deleting pod: its requeue delay, None once it is gone."""
    result = c.controllers[POD].reconcile(WorkKey(POD, pod.uid))
    return None if c.store.get_pod_by_uid(pod.uid) is None else result.requeue_after


def on_host(c: Cluster, pod: PodRecord) -> bool:
    return pod.uid in c.hosts.agents[pod.node_name].pods


class TestDrain:
    def test_deletion_waits_for_every_live_proxy(self, cluster: Cluster) -> None:
        """The pod keeps running until both proxies acknowledged endpoints without it."""
        pod = deleting(cluster)
        assert drain(cluster, pod) is not None and on_host(cluster, pod)
        revision = cluster.store.endpoints_revision()
        cluster.store.ack_proxy("a", revision, "iptables")
        assert drain(cluster, pod) is not None and on_host(cluster, pod)
        assert cluster.store.proxies_behind(revision, pods.PROXY_FRESH) == ["b"]
        cluster.store.ack_proxy("b", revision, "iptables")
        assert drain(cluster, pod) is None
        assert not on_host(cluster, pod)

    def test_a_silent_proxy_is_waited_for_only_until_the_timeout(
        self, cluster: Cluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """b never acknowledges: after PROXY_ACK_TIMEOUT the pod is stopped, with a warning."""
        monkeypatch.setattr(pods, "PROXY_ACK_TIMEOUT", 0.5)
        pod = deleting(cluster)
        cluster.store.ack_proxy("a", cluster.store.endpoints_revision(), "iptables")
        assert drain(cluster, pod) is not None and on_host(cluster, pod)
        deadline = time.monotonic() + 30
        with caplog.at_level(logging.WARNING, logger="reconciler.control.pods"):
            while drain(cluster, pod) is not None:
                assert time.monotonic() < deadline, "the drain never gave up on b"
                time.sleep(0.1)
        assert not on_host(cluster, pod)
        assert any("proxies of b did not acknowledge" in r.getMessage() for r in caplog.records)

    def test_a_proxy_stopped_on_purpose_is_not_waited_for(self, cluster: Cluster) -> None:
        """A proxy that removed its row (a clean stop) holds nothing up."""
        cluster.store.forget_proxy("b")
        pod = deleting(cluster)
        cluster.store.ack_proxy("a", cluster.store.endpoints_revision(), "iptables")
        assert drain(cluster, pod) is None
        assert not on_host(cluster, pod)
