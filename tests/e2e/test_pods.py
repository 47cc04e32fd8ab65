"""End to end: pods on two real Docker hosts, scheduling, adoption after kill -9 (issue 3)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HOSTB_URL, Host
from tests.e2e import daemonsets_kit
from tests.e2e.service import ServiceRun, containers, remove_all, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]

NODES = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata:
  name: local
  labels: {disk: hdd}
spec:
  engine: unix:///var/run/docker.sock
  address: 10.250.0.1
---
apiVersion: reconciler.dev/v1
kind: Node
metadata:
  name: hostb
  labels: {disk: ssd}
spec:
  engine: unix:///var/run/docker-hostb.sock
  address: 10.250.0.2
"""


def rc(name: str, replicas: int, extra_spec: str = "", command: str = '["sleep", "3600"]') -> str:
    return f"""\
apiVersion: v1
kind: ReplicationController
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
{extra_spec}      containers:
      - name: main
        image: reconciler/busybox:1
        command: {command}
"""


def by_node(run: ServiceRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in run.running():
        node = p["spec"].get("nodeName", "")
        counts[node] = counts.get(node, 0) + 1
    return counts


# A host of the hung-host test's own: the shared hostb serves other test files meanwhile.
LOST = "hostr"
daemonsets_kit._NETNS_HOSTS[LOST] = ("243", "172.21.0.1/24")
daemonsets_kit.ADDRESSES[LOST] = "10.243.0.2"
ENGINES = {**daemonsets_kit.ENGINES, LOST: f"unix:///var/run/docker-{LOST}.sock"}
daemonsets_kit.ENGINES[LOST] = ENGINES[LOST]


@pytest.fixture
def own_host(svc_factory: list[ServiceRun], tmp_path: Path) -> Iterator[ServiceRun]:
    """The service (not started) on the local engine and a host of this test's own; afterwards
    that host runs again (SIGCONT), its containers are removed and it is gone."""
    up = daemonsets_kit.netns_host(LOST, "up")
    if up.returncode != 0:
        daemonsets_kit.netns_host(LOST, "down")
        pytest.skip(f"Docker host {LOST} unavailable: {up.stderr.strip() or up.stdout}")
    run = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
    svc_factory.append(run)
    octet = daemonsets_kit._NETNS_HOSTS[LOST][0]
    run.write("nodes.yaml", NODES.replace("hostb", LOST).replace(
        "10.250.0.2", daemonsets_kit.ADDRESSES[LOST]).replace("10.250.0.1", f"10.{octet}.0.1"))
    try:
        yield run
    finally:
        pid = Path(f"/var/run/docker-{LOST}.pid")
        if pid.exists():
            subprocess.run(["kill", "-CONT", pid.read_text().strip()], check=False)
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        remove_all(run.prefix, ENGINES[LOST])
        daemonsets_kit.netns_host(LOST, "down")


@pytest.fixture
def two_hosts(svc_factory: list[ServiceRun], tmp_path: Path, hostb: Host) -> ServiceRun:
    run = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
    svc_factory.append(run)
    run.write("nodes.yaml", NODES)
    return run


class TestTwoHosts:
    def test_spread_pin_and_pending(self, two_hosts: ServiceRun) -> None:
        """Pods spread over both hosts; a nodeSelector pins one; an oversized one stays Pending."""
        run = two_hosts
        run.write("spread.yaml", rc("spread", 4))
        run.write("pinned.yaml", rc("pinned", 1, "      nodeSelector: {disk: ssd}\n"))
        huge = """\
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers:
  - name: main
    image: reconciler/busybox:1
    command: ["sleep", "3600"]
    resources: {requests: {memory: 4Pi}}
"""
        run.write("huge.yaml", huge)
        run.start()
        wait_until(lambda: len(run.running()) == 5, 60, what="5 running pods")
        spread = [p for p in run.running() if p["metadata"]["name"].startswith("spread-")]
        assert {p["spec"]["nodeName"] for p in spread} == {"local", "hostb"}
        assert sorted(p["spec"]["nodeName"] for p in spread).count("hostb") == 2
        pinned = [p for p in run.running() if p["metadata"]["name"].startswith("pinned-")]
        assert [p["spec"]["nodeName"] for p in pinned] == ["hostb"]
        # Its containers really run on hostb's engine.
        assert len(containers(run.prefix, HOSTB_URL)) == 2 * 3

        pending = run.get_json("pods", "huge")
        assert pending["status"]["phase"] == "Pending"
        described = run.cli("describe", "pod", "huge").stdout
        assert "0/2 nodes are available: 2 Insufficient memory." in described, described
        assert "FailedScheduling" in described

        nodes = run.cli("get", "nodes").stdout.splitlines()
        assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        assert {line.split()[0]: line.split()[1] for line in nodes[1:]} == {
            "hostb": "Ready",
            "local": "Ready",
        }

    def test_host_down_then_back(self, own_host: ServiceRun) -> None:
        """A hung host goes NotReady; its pods move; once back, its stale containers go."""
        run = own_host
        run.env["RECONCILER_NODE_NOT_READY_TIMEOUT"] = "2s"
        run.env["RECONCILER_NODE_EVICTION_TIMEOUT"] = "3s"
        run.write("spread.yaml", rc("spread", 2, "      nodeSelector: {disk: ssd}\n"))
        run.start()
        wait_until(lambda: by_node(run) == {LOST: 2}, 60, what=f"2 pods on {LOST}")
        # The host's engine hangs (SIGSTOP): it stops answering, its containers keep running.
        pid = Path(f"/var/run/docker-{LOST}.pid").read_text().strip()
        subprocess.run(["kill", "-STOP", pid], check=True)
        try:
            # The selector is the only thing keeping them there; let them go anywhere.
            run.write("spread.yaml", rc("spread", 2))
            wait_until(
                lambda: "NotReady" in run.cli("get", "nodes").stdout, 30, what=f"{LOST} NotReady"
            )
            wait_until(lambda: by_node(run) == {"local": 2}, 60, what="2 pods moved to local")
        finally:
            subprocess.run(["kill", "-CONT", pid], check=True)
        # The host is back: its stale containers are removed as orphans.
        wait_until(
            lambda: "NotReady" not in run.cli("get", "nodes").stdout, 30,
            what=f"{LOST} Ready again",
        )
        wait_until(
            lambda: not containers(run.prefix, ENGINES[LOST]), 30,
            what=f"no stale containers on {LOST}",
        )


class TestRestartSafety:
    def test_kill9_while_creating_ten_pods(
        self, svc_factory: list[ServiceRun], tmp_path: Path
    ) -> None:
        """kill -9 during the creation of 10 pods; after a restart exactly 10 pods, no orphans."""
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
        svc_factory.append(run)
        run.write("ten.yaml", rc("ten", 10))
        run.start()
        wait_until(lambda: len(containers(run.prefix)) >= 2, 30, 0.02, what="the first containers")
        run.kill9()
        run.start()
        wait_until(lambda: len(run.running()) == 10, 60, what="10 running pods")
        time.sleep(1)
        pods = run.pods()
        assert len(pods) == 10
        uids = {p["metadata"]["uid"] for p in pods}
        out = subprocess.run(
            [
                "docker",
                "ps",
                "-a",
                "--filter",
                f"label=io.reconciler.prefix={run.prefix}",
                "--format",
                "{{json .Labels}}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        labels = [
            dict(kv.split("=", 1) for kv in json.loads(line).split(","))
            for line in out.splitlines()
        ]
        assert len(labels) == 20, "one infra and one app container per pod"
        assert {lab["io.reconciler.pod.uid"] for lab in labels} == uids, "no orphan containers"
