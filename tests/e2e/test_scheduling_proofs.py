"""End to end: issue 20's proof of a host lost and back, on real engines.

Two Docker hosts of this file's own in network namespaces (scripts/netns-host.sh
through tests/e2e/scheduling_kit.register): `hostw` (10.236.0.2, bridge
172.16.36.1/24) and `hostx` (10.237.0.2, bridge 172.16.37.1/24), distinct from every
other test host's. A lost host is one whose dockerd is frozen (SIGSTOP: it answers
nothing, its containers keep running), as tests/e2e/test_deployments.py's
TestHostLost does; the fixtures always thaw it.

Six replicas spread (maxSkew 1) go three and three; the lost host's three are
replaced on the other; a Deployment of 2 with required anti-affinity keeps its one
replica there and its replacement Pending (the rule forbids a second on that host),
while a single replica with the same rule is replaced there (the rule allows it);
back, the Pending replica lands on the returned host and the descheduler (on, one
move per pass) restores three and three. The drain-under-load proof is in
test_scheduling_drain.py (it runs the service proxy).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import daemonsets_kit
from tests.e2e.deployments_kit import node_ready
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


def nodes_yaml() -> str:
    docs = [node_doc(name, ENGINES[name], daemonsets_kit.ADDRESSES[name]) for name in HOSTS]
    return "\n---\n".join(docs)


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
        moves = wait_until(lambda: [ln for ln in run.cli("get", "events").stdout.splitlines()
                                    if "Descheduled" in ln], timeout=30, what="Descheduled events")
        print("\n" + "\n".join(moves))
        assert moves and all("spread-" in line for line in moves), moves
        # Each move waited for the last one's replacement: all six were there and Ready.
        for line in moves:
            got = re.search(r"(\d+) on \w+, (\d+) on \w+$", line)
            assert got is not None and int(got[1]) + int(got[2]) == 6, moves
        assert placed(run, "solo") == {"hostx": 1}  # 1 against 0: no reason to move
