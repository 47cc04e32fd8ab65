"""End to end, issue 18: a node whose engine only its agent reaches (a Node's `agent: true`).

The control plane (`reconciler run`, proxy off) and the agent (`reconciler agent --node far
--no-data-plane`) run as real processes on one PostgreSQL store (tests/support/postgres.py)
and the local Docker engine. The Node `far` is declared `agent: true`: the control plane
never dials its engine (runtime/agent_node.py), although it could here, so everything
that happens on the engine is the agent's: the heartbeat, the engine's events (a killed
container restarted), the pods' creation and their stop when the RC scales down.

One module-scoped set-up, the tests in order: not Ready before the agent, Ready with the
agent's heartbeat, two pods run by it, a killed container restarted, a scale-down stopped
by the agent and removed by the control plane, NotReady when the agent stops and its pod
evicted (the engine untouched meanwhile), when it is back the evicted pod's
containers collected by it and the replacement run, and a second agent of the node
standing by until the first stops.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.store import Store
from tests.e2e.scheduling_kit import workload
from tests.e2e.service import RECONCILER, ServiceRun, remove_all, wait_until
from tests.support.postgres import Cluster

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

NODE = json.dumps({"apiVersion": "reconciler.dev/v1", "kind": "Node", "metadata": {"name": "far"},
                   "spec": {"engine": "unix:///var/run/docker.sock", "agent": True,
                            "address": "127.0.0.1"}})


@dataclass
class Setup:
    url: str
    prefix: str
    tmp: Path
    service: ServiceRun
    env: dict[str, str]
    agent: subprocess.Popen[bytes] | None = None

    def start_agent(self) -> None:
        with open(self.tmp / "agent.log", "ab") as log:
            self.agent = subprocess.Popen(
                [RECONCILER, "agent", "--node", "far", "--state", self.url, "--no-data-plane"],
                stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def stop_agent(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            self.agent.wait(60)

    def agent_log(self) -> str:
        return (self.tmp / "agent.log").read_text(errors="replace")[-4000:]

    def node(self) -> NodeRecord | None:
        with Store.open(self.url, create=False) as store:
            return store.get_node("far")

    def pods(self) -> list[PodRecord]:
        with Store.open(self.url, create=False) as store:
            return [p for p in store.list_pods() if p.labels.get("app") == "far"]

    def running(self) -> list[PodRecord]:
        return [p for p in self.pods() if p.phase == "Running" and p.pod_ip
                and p.deletion_timestamp is None]

    def containers(self, *extra: str) -> list[str]:
        """`docker ps` lines of this set-up's containers: `pod name container name id`."""
        out = subprocess.run(
            ["docker", "ps", *extra, "--filter", f"label=io.reconciler.prefix={self.prefix}",
             "--format", '{{.Label "io.reconciler.pod.name"}} '
                         '{{.Label "io.reconciler.container.name"}} {{.ID}}'],
            capture_output=True, text=True, check=True, timeout=60).stdout
        return out.split("\n")[:-1] if out else []


@pytest.fixture(scope="module")
def setup(postgres_server: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The control plane and (not yet started) agent of node `far`, on one PostgreSQL store."""
    tmp = tmp_path_factory.mktemp("agentnode")
    url = postgres_server.create_database("agent")
    prefix = f"an{os.urandom(3).hex()}"
    common = {"RECONCILER_RUNTIME_NAME_PREFIX": prefix,
              "RECONCILER_SECRETS__KEY_FILE": str(tmp / "secrets.key"),
              "RECONCILER_RUNTIME__VOLUMES_DIR": str(tmp / "volumes"),
              "RECONCILER_HEARTBEAT_INTERVAL": "1s",
              "RECONCILER_NODE_NOT_READY_TIMEOUT": "4s",
              "RECONCILER_NODE_EVICTION_TIMEOUT": "15s"}
    service = ServiceRun(tmp, prefix=prefix, args=("--proxy-mode", "agents"), extra_env=common)
    service.state = url  # type: ignore[assignment]  # a URL where a path goes
    (service.desired / "node.yaml").write_text(NODE)
    # The agent's periodic gc an hour away: a restart it makes is its engine event's.
    env = {**service.env, "RECONCILER_RESYNC_INTERVAL": "1h"}
    set_up = Setup(url, prefix, tmp, service, env)
    try:
        service.start(timeout=120)
        yield set_up
    finally:
        set_up.stop_agent()
        service.stop()
        remove_all(prefix)
        postgres_server.drop_database(url)


def test_node_not_ready_without_its_agent(setup: Setup) -> None:
    """An `agent: true` node is not dialled by the control plane: NotReady until its agent."""
    node = wait_until(setup.node, 60, 0.5, "node far registered")
    assert node.engine_url == "agent+unix:///var/run/docker.sock"
    assert not node.ready and node.last_heartbeat is None
    assert node.capacity.memory == 0


def test_agent_heartbeat_makes_it_ready(setup: Setup) -> None:
    """The agent's heartbeat records capacity and versions, and the node turns Ready."""
    setup.start_agent()
    try:
        node = wait_until(lambda: (n := setup.node()) is not None and n.ready and n, 90, 0.5,
                          "node far Ready")
    except AssertionError:
        raise AssertionError(setup.agent_log()) from None
    assert node.capacity.memory > 2**31 and node.capacity.cpu_milli >= 1000
    assert node.engine_version and node.reason == "KubeletReady"
    assert node.labels.get("kubernetes.io/hostname") == "far"


def test_pods_run_by_the_agent(setup: Setup) -> None:
    """An RC's pods bound to the node are created by its agent, their status in the store."""
    (setup.service.desired / "far.yaml").write_text(workload("far", 2))
    try:
        wait_until(lambda: len(setup.running()) == 2, 120, 0.5, "2 pods running")
    except AssertionError:
        raise AssertionError(setup.agent_log()) from None
    assert {p.node_name for p in setup.pods()} == {"far"}
    mains = [c for c in setup.containers() if c.split()[1] == "main"]
    assert len(mains) == 2
    assert "run by this agent" in setup.agent_log()
    # The CLI on the node's own machine reaches its engine as that machine does.
    done = subprocess.run([RECONCILER, "exec", setup.running()[0].name, "--state", setup.url,
                           "--", "echo", "from-far"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and "from-far" in done.stdout, done.stderr


def test_killed_container_restarted_by_engine_event(setup: Setup) -> None:
    """A container killed on the engine is restarted by the agent, which hears Docker's event."""
    victim = next(c for c in setup.containers() if c.split()[1] == "main")
    pod_name, _, cid = victim.split()
    subprocess.run(["docker", "kill", cid], check=True, capture_output=True, timeout=60)

    def restarted() -> bool:
        pod = next((p for p in setup.running() if p.name == pod_name), None)
        return pod is not None and any(c.restart_count >= 1 and c.state == "running"
                                       for c in pod.containers)
    wait_until(restarted, 60, 0.5, f"{pod_name}'s container restarted")
    assert len(setup.running()) == 2


def test_scale_down_stopped_by_agent_and_removed(setup: Setup) -> None:
    """Scaling 2 -> 1: the agent stops the pod's containers, the control plane drops its record."""
    (setup.service.desired / "far.yaml").write_text(workload("far", 1))
    wait_until(lambda: len(setup.pods()) == 1, 90, 0.5, "one pod record left")
    left = setup.pods()[0].name
    wait_until(lambda: {c.split()[0] for c in setup.containers("-a")} == {left}, 60, 0.5,
               "only the remaining pod's containers")
    assert len(setup.running()) == 1


def test_agent_gone_evicted_and_orphans_collected_when_back(setup: Setup) -> None:
    """Agent stopped: NotReady, its pod evicted (the engine untouched meanwhile); back: the
    evicted pod's containers removed by the agent, the replacement run by it."""
    before = setup.containers()
    old = {p.uid for p in setup.pods()}
    setup.stop_agent()
    node = wait_until(lambda: (n := setup.node()) is not None and not n.ready and n, 60, 0.5,
                      "node far NotReady")
    assert node.reason == "NodeStatusUnknown"
    wait_until(lambda: not old & {p.uid for p in setup.pods()} and setup.pods(), 90, 0.5,
               "the pod evicted and replaced by a pending one")
    assert setup.containers() == before  # nobody reached the engine meanwhile
    setup.start_agent()
    wait_until(lambda: (n := setup.node()) is not None and n.ready, 60, 0.5, "Ready again")
    wait_until(lambda: len(setup.running()) == 1, 90, 0.5, "the replacement Running")
    new = setup.running()[0].name
    wait_until(lambda: {c.split()[0] for c in setup.containers("-a")} == {new}, 60, 0.5,
               "the evicted pod's containers removed")


def test_second_agent_waits_as_standby_then_takes_over(setup: Setup) -> None:
    """A second agent of node far waits as standby (lease `node/far`) while the first runs
    the node, and takes it over once the first stops: one agent acts at a time."""
    path = setup.tmp / "agent2.log"
    with open(path, "ab") as log:
        second = subprocess.Popen(
            [RECONCILER, "agent", "--node", "far", "--state", setup.url, "--no-data-plane"],
            stdout=log, stderr=subprocess.STDOUT, env=setup.env)
    text = lambda: path.read_text(errors="replace")  # noqa: E731
    try:
        wait_until(lambda: "standby" in text(), 60, 0.5, "the second agent standing by")
        assert "run by this agent" not in text()
        setup.stop_agent()
        wait_until(lambda: "run by this agent" in text(), 60, 0.5, "the second agent acting")
        wait_until(lambda: (n := setup.node()) is not None and n.ready, 60, 0.5, "Ready")
        wait_until(lambda: len(setup.running()) == 1, 60, 0.5, "its pod Running")
    except AssertionError:
        raise AssertionError(text()[-4000:]) from None
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
