"""End to end: scheduling over real Docker hosts (issue 20).

Two Docker hosts of these tests alone, made with scripts/netns-host.sh as the
DaemonSet tests make theirs (tests/e2e/daemonsets_kit.py, whose host table this
module extends): `hosts` (10.241.0.2) whose bridge is a /29, so its engine has 5
addresses for pod sandboxes, and `hostt` (10.242.0.2) with a /24. The local engine
and the shared hostb/hostc are not used. The tests check that the small host takes
no more pods than its bridge holds and the rest go to the other host; that two
replicas with required anti-affinity on kubernetes.io/hostname land one per host
and a third stays Pending with Kubernetes' message; that a running pod's
anti-affinity also keeps out a newcomer with no rules of its own (the symmetric
rule); and that a tainted host takes only the pods that tolerate its taint.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import daemonsets_kit
from tests.e2e.scheduling_kit import (
    HOSTNAME,
    anti_affinity,
    hosts_up,
    node_doc,
    placed,
    pods_of,
    ready_by_node,
    register,
    service_on,
    unschedulable_message,
    workload,
)
from tests.e2e.service import ServiceRun, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

# name -> (third octet of 10.x.0.0/24, bridge address), distinct from every other test host's.
HOSTS = {"hosts": ("241", "172.22.0.1/29"), "hostt": ("242", "172.23.0.1/24")}
SMALL_BRIDGE_ADDRESSES = 5  # a /29: 8 less network, broadcast and gateway
ENGINES = register(HOSTS)
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
    with service_on(svc_factory, tmp_path, hosts, ENV) as service:
        yield service


def nodes_yaml(taints: dict[str, list[dict[str, str]]] | None = None) -> str:
    docs = []
    for name in HOSTS:
        spec: dict[str, Any] = {"engine": ENGINES[name],
                                "address": daemonsets_kit.ADDRESSES[name]}
        if taints and name in taints:
            spec["taints"] = taints[name]
        docs.append(json.dumps({"apiVersion": "reconciler.dev/v1", "kind": "Node",
                                "metadata": {"name": name}, "spec": spec}))
    return "\n---\n".join(docs)


class TestCapacity:
    def test_small_bridge_takes_no_more_than_it_holds(self, run: ServiceRun) -> None:
        """12 replicas over a host with 5 sandbox addresses and a roomy one: 5 and 7, all
        running, none retried on the full host; get nodes -o wide and describe say so."""
        run.write("nodes.yaml", nodes_yaml())
        run.start()
        wait_until(lambda: all(n["status"]["allocatable"].get("pods") == str(
            SMALL_BRIDGE_ADDRESSES) for n in run.get_json("nodes")["items"]
            if n["metadata"]["name"] == "hosts"), timeout=60,
            what="hosts' allocatable pods read from its bridge")
        run.write("rc.yaml", workload("fill", 12))
        counts = wait_until(lambda: (c := placed(run, "fill")) and sum(c.values()) == 12 and c,
                            timeout=300, what="12 running pods")
        assert counts == Counter({"hosts": SMALL_BRIDGE_ADDRESSES, "hostt": 7})
        events = run.cli("get", "events").stdout
        assert "no available IPv4 addresses" not in events, events
        wide = run.cli("get", "nodes", "-o", "wide").stdout.splitlines()
        assert wide[0].split()[-1] == "PODS"
        rows = {line.split()[0]: line.split()[-1] for line in wide[1:]}
        assert rows == {"hosts": "5/5", "hostt": "7/110"}
        describe = run.cli("describe", "node", "hosts").stdout
        assert "Allocatable:" in describe and "pods:" in describe
        allocatable = describe.split("Allocatable:")[1]
        assert allocatable.split("pods:")[1].split()[0] == "5"

        # One more replica: the small host is full, so it goes to the other one.
        run.write("rc.yaml", workload("fill", 13))
        wait_until(lambda: placed(run, "fill") == Counter({"hosts": 5, "hostt": 8}),
                   timeout=180, what="the 13th pod on hostt")


class TestPlacementRules:
    def test_required_anti_affinity_one_per_host(self, run: ServiceRun) -> None:
        """A Deployment of 2 with required anti-affinity on the hostname: one pod per host;
        a third replica stays Pending with Kubernetes' message."""
        anti = anti_affinity("ha")
        run.write("nodes.yaml", nodes_yaml())
        run.write("ha.yaml", workload("ha", 2, anti, kind="Deployment"))
        run.start()
        wait_until(lambda: placed(run, "ha") == Counter({"hosts": 1, "hostt": 1}),
                   timeout=180, what="one ha pod per host")
        run.write("ha.yaml", workload("ha", 3, anti, kind="Deployment"))
        message = "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
        pending = wait_until(lambda: [p for p in pods_of(run, "ha")
                                      if unschedulable_message(p) == message],
                             timeout=120, what="the third replica Pending with the message")
        assert len(pending) == 1 and not pending[0]["spec"].get("nodeName")
        assert placed(run, "ha") == Counter({"hosts": 1, "hostt": 1})
        # Events are written a moment after the status (in batches): wait for them.
        wait_until(lambda: "FailedScheduling" in (e := run.cli("get", "events").stdout)
                   and "didn't match pod anti-affinity rules" in e, timeout=30,
                   what="the FailedScheduling event")

    def test_existing_pods_anti_affinity_keeps_a_plain_pod_out(self, run: ServiceRun) -> None:
        """A running pod's required anti-affinity against app=solo keeps a solo pod that has
        no rules of its own off that host (Pending, Kubernetes' reason) until it goes."""
        on_hosts = {"nodeSelector": {HOSTNAME: "hosts"}}
        run.write("nodes.yaml", nodes_yaml())
        run.write("guard.yaml", workload("guard", 1, {**on_hosts, **anti_affinity("solo")}))
        run.start()
        wait_until(lambda: placed(run, "guard") == Counter({"hosts": 1}), timeout=180,
                   what="the guard on hosts")
        run.write("solo.yaml", workload("solo", 1, on_hosts))
        pending = wait_until(
            lambda: [p for p in pods_of(run, "solo") if
                     "didn't satisfy existing pods anti-affinity rules"
                     in unschedulable_message(p)],
            timeout=120, what="the solo pod Pending for the guard's anti-affinity")
        assert not pending[0]["spec"].get("nodeName")
        assert placed(run, "solo") == Counter()
        (run.desired / "guard.yaml").unlink()
        wait_until(lambda: placed(run, "solo") == Counter({"hosts": 1}), timeout=180,
                   what="the solo pod on hosts once the guard is gone")

    def test_tainted_host_takes_only_tolerating_pods(self, run: ServiceRun) -> None:
        """hostt tainted dedicated=db:NoSchedule: plain pods all go to hosts; a tolerating pod
        pinned to hostt by node affinity runs there."""
        taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
        run.write("nodes.yaml", nodes_yaml({"hostt": [taint]}))
        run.write("plain.yaml", workload("plain", 3))
        tolerating = {
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db",
                             "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": HOSTNAME, "operator": "In", "values": ["hostt"]}]}]}}}}
        run.write("db.yaml", workload("db", 1, tolerating))
        run.start()
        wait_until(lambda: placed(run, "plain") == Counter({"hosts": 3}), timeout=180,
                   what="3 plain pods on hosts")
        wait_until(lambda: placed(run, "db") == Counter({"hostt": 1}), timeout=180,
                   what="the tolerating pod on hostt")
        describe = run.cli("describe", "node", "hostt").stdout
        assert "dedicated=db:NoSchedule" in describe


class TestDrain:
    def test_drain_respects_the_budget(self, run: ServiceRun) -> None:
        """`drain hosts` cordons it in its manifest and evicts its pods one at a time under a
        PodDisruptionBudget of minAvailable 2: the replicas end on hostt, never fewer than
        two running, and nothing new lands on the cordoned host."""
        run.write("nodes.yaml", nodes_yaml())
        spread = {"topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "web"}}}],
            "containers": [{"name": "main", "image": "reconciler/busybox:1",
                            "command": ["sleep", "3600"],
                            "readinessProbe": {"exec": {"command": ["true"]},
                                               "periodSeconds": 1}}]}
        run.write("web.yaml", workload("web", 3, spread))
        run.write("pdb.yaml", json.dumps({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}))
        run.start()
        before = wait_until(lambda: (c := placed(run, "web")) and sum(c.values()) == 3
                            and c["hosts"] >= 1 and c, timeout=180,
                            what="3 web pods, some on hosts")
        drained = run.cli("drain", "hosts", "--desired", str(run.desired), "--timeout", "240",
                          timeout=300)
        assert "node/hosts cordoned" in drained.stdout and "node/hosts drained" in drained.stdout
        assert drained.stdout.count("evicted") == before["hosts"]
        assert '"unschedulable": true' in (run.desired / "nodes.yaml").read_text()
        wait_until(lambda: placed(run, "web") == Counter({"hostt": 3}), timeout=180,
                   what="3 web pods on hostt")
        wait_until(lambda: "Scheduled" in run.cli("get", "events").stdout, timeout=30,
                   what="the Scheduled events")


class TestNodeFailure:
    def test_pod_the_node_cannot_start_moves(self, run: ServiceRun) -> None:
        """A pod whose sandbox its node refuses (a host port taken there by a container the
        service does not know) is given back after its tries and runs on the other host,
        with a NodeFailure event naming the node; it is not retried there for ever."""
        blocker = f"{run.prefix}-blocker"
        subprocess.run(["docker", "-H", ENGINES["hosts"], "run", "-d", "--name", blocker,
                        "--label", f"reconciler-test={run.prefix}",
                        "-p", f"{daemonsets_kit.ADDRESSES['hosts']}:18080:8080",
                        "reconciler/busybox:1", "sleep", "3600"],
                       check=True, capture_output=True, timeout=60)
        try:
            prefer_small = {
                "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "preference": {"matchExpressions": [
                        {"key": HOSTNAME, "operator": "In", "values": ["hosts"]}]}}]}},
                "containers": [{"name": "main", "image": "reconciler/busybox:1",
                                "command": ["sleep", "3600"],
                                "ports": [{"containerPort": 8080, "hostPort": 18080}]}]}
            run.write("nodes.yaml", nodes_yaml())
            run.write("web.yaml", workload("porty", 1, prefer_small))
            run.start()
            wait_until(lambda: placed(run, "porty") == Counter({"hostt": 1}), timeout=180,
                       what="the pod running on hostt")
            def node_failure() -> str:
                events = run.cli("get", "events").stdout
                return events if "NodeFailure" in events and (
                    "could not be started on node hosts" in events) else ""

            # Events are written a moment after the status (in batches): wait for it.
            events = wait_until(node_failure, timeout=30, what="the NodeFailure event")
            assert "port is already allocated" in events or "address already in use" in events
        finally:
            subprocess.run(["docker", "-H", ENGINES["hosts"], "rm", "-f", blocker],
                           capture_output=True, timeout=60, check=False)


class TestDescheduler:
    def test_new_host_gets_replicas_back(self, run: ServiceRun) -> None:
        """Six replicas on the one host registered; a second host registers; the opt-in
        descheduler moves pods one at a time (the owner never below five Ready) to 3 and 3."""
        run.env["RECONCILER_DESCHEDULER_INTERVAL"] = "2s"
        run.write("nodes.yaml", nodes_yaml().split("\n---\n")[1])  # hostt alone
        run.write("web.yaml", workload("spread", 6))
        run.start()
        wait_until(lambda: placed(run, "spread") == Counter({"hostt": 6}), timeout=180,
                   what="6 pods on hostt")
        run.write("nodes.yaml", nodes_yaml())

        def balanced() -> bool:
            live = pods_of(run, "spread")  # one read: the counts below agree with each other
            if not live:
                return False  # the CLI read nothing (a busy store): look again
            ready = ready_by_node(live)
            assert sum(ready.values()) >= 5, (ready, len(live))
            return ready == Counter({"hostt": 3, "hosts": 3})
        wait_until(balanced, timeout=240, interval=0.5, what="3 and 3")
        wait_until(lambda: "Descheduled" in run.cli("get", "events").stdout, timeout=30,
                   what="a Descheduled event")


def app_containers(engine: str, prefix: str, pod: str) -> list[str]:
    """Ids of the running app containers of `pod` on an engine."""
    out = subprocess.run(
        ["docker", "-H", engine, "ps", "-q", "--filter", f"label=io.reconciler.prefix={prefix}",
         "--filter", f"label=io.reconciler.pod.name={pod}",
         "--filter", "label=io.reconciler.container.name=main"],
        capture_output=True, text=True, check=True).stdout
    return out.split()


class TestNodeDeclaredLater:
    def test_its_engines_events_are_followed(self, svc_factory: list[ServiceRun],
                                             tmp_path: Path, hosts: dict[str, str]) -> None:
        """A node declared after the service started: a container removed on it is made
        again from its engine's events, with the resync an hour away."""
        env = {**ENV, "RECONCILER_RESYNC_INTERVAL": "1h"}
        with service_on(svc_factory, tmp_path, hosts, env) as run:
            run.write("nodes.yaml", node_doc("hosts", ENGINES["hosts"],
                                             daemonsets_kit.ADDRESSES["hosts"]))
            run.start()
            run.write("nodes.yaml", nodes_yaml())  # hostt from now on
            wait_until(lambda: "hostt" in {n["metadata"]["name"] for n in
                                           run.get_json("nodes")["items"]},
                       timeout=60, what="hostt registered")
            run.write("late.yaml", json.dumps({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"},
                "spec": {"nodeName": "hostt", "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "main", "image": "reconciler/busybox:1",
                                         "command": ["sleep", "3600"]}]}}))
            first = wait_until(lambda: app_containers(ENGINES["hostt"], run.prefix, "late"),
                               timeout=120, what="the pod running on hostt")
            time.sleep(12)  # past any retry its first syncs asked for (scheduling: 10 s)
            subprocess.run(["docker", "-H", ENGINES["hostt"], "rm", "-f", *first],
                           capture_output=True, check=True)
            again = wait_until(
                lambda: [c for c in app_containers(ENGINES["hostt"], run.prefix, "late")
                         if c not in first], timeout=60, what="its container made again")
            assert len(again) == 1
