"""End to end: `reconciler drain` under a request stream (issue 20), on real engines.

A Service whose pods have a readiness probe, a client sending requests to its
cluster IP the whole time from this process, `reconciler drain` of the host with
most replicas under a PodDisruptionBudget: no request fails. Two Docker hosts of
this file's own in network namespaces: `hosty` (10.238.0.2, bridge
172.16.38.1/24) and `hostz` (10.239.0.2, bridge 172.16.39.1/24). The service proxy
is on, so the file is in the machine-network chain (tests/support/machine_lock.py).
The control machine's engine is declared as Node `local`, cordoned: the embedded
proxy then runs as that node (not as the first netns host) and nothing lands there.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import daemonsets_kit
from tests.e2e.deployments_kit import WEB_SVC, Hammer, web
from tests.e2e.scheduling_kit import (
    hosts_up,
    node_doc,
    pods_of,
    ready_by_node,
    register,
    service_on,
)
from tests.e2e.service import ServiceRun, wait_until
from tests.e2e.services_kit import cluster_ip
from tests.support.machine_lock import MACHINE_NETWORK

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600), MACHINE_NETWORK]

HOSTS = {"hosty": ("238", "172.16.38.1/24"), "hostz": ("239", "172.16.39.1/24")}
ENGINES = register(HOSTS)
LOCAL_ENGINE = "unix:///var/run/docker.sock"
ENV = {"RECONCILER_NETWORK_PROXY_MODE": "off"}


@pytest.fixture(scope="module")
def hosts() -> Iterator[dict[str, str]]:
    """Both hosts up for this module, stopped after it."""
    with hosts_up(list(HOSTS)):
        yield ENGINES


@pytest.fixture
def run(svc_factory: list[ServiceRun], tmp_path: Path,
        hosts: dict[str, str]) -> Iterator[ServiceRun]:
    """The service (not started); its containers are removed from the hosts afterwards."""
    with service_on(svc_factory, tmp_path, hosts, ENV, also=(LOCAL_ENGINE,)) as service:
        yield service


def nodes_yaml() -> str:
    docs = [node_doc(name, ENGINES[name], daemonsets_kit.ADDRESSES[name]) for name in HOSTS]
    docs.insert(0, node_doc("local", LOCAL_ENGINE, unschedulable=True))
    return "\n---\n".join(docs)


class TestDrainUnderLoad:
    def test_drain_drops_no_request(self, run: ServiceRun) -> None:
        """3 web replicas with a readiness probe behind a Service, a PodDisruptionBudget of
        minAvailable 2; `drain` of the host with most of them while a client sends requests
        to the cluster IP: every replica ends on the other host and no request fails."""
        # The proxy on (the machine lock). The default NotReady timeout: a NotReady `local`
        # would not be waited for before a deleted pod stops (docs/network.md).
        del run.env["RECONCILER_NETWORK_PROXY_MODE"]
        run.write("nodes.yaml", nodes_yaml())
        run.write("web-svc.yaml", WEB_SVC)
        run.write("web.yaml", web("v1", replicas=3))
        run.write("pdb.yaml", json.dumps({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}))
        run.start()
        cip = cluster_ip(run, "web")
        before = wait_until(lambda: (c := ready_by_node(pods_of(run, "web")))
                            and sum(c.values()) == 3 and c, timeout=180,
                            what="3 ready web pods")
        assert set(before) == set(HOSTS), before  # spread by their owner
        wait_until(lambda: Hammer(cip).stop_after(1.0).get("v1"), 60, what="v1 answering")
        drained, kept = sorted(HOSTS, key=lambda n: -before[n])
        hammer = Hammer(cip)
        try:
            out = run.cli("drain", drained, "--desired", str(run.desired), "--timeout", "240",
                          timeout=300)
            assert f"node/{drained} drained" in out.stdout, out.stdout
            wait_until(lambda: ready_by_node(pods_of(run, "web")) == Counter({kept: 3}),
                       timeout=120, what=f"3 ready web pods on {kept}")
        finally:
            got = hammer.stop()
        print(f"\nrequests during the drain of {drained}: {dict(got)}")
        late = [line for line in run.output().splitlines() if "did not acknowledge" in line]
        assert got["FAIL"] == 0, (got, late)
        assert got["v1"] > 0, got
        assert out.stdout.count("evicted") == before[drained], out.stdout
