"""End to end: DaemonSets on the real engines (issue 19).

`reconciler run` on two Docker hosts (hostb and hoste) and later a third (hostg;
hoste and hostg are these tests' own, tests/e2e/daemonsets_kit.py) runs the log agent of
docs/daemonsets.md: a busybox reading its host's Docker container folder through
a read-only hostPath, serving what it saw on hostPort 24224 of its host's
address. The tests check one pod per matching host, a relabelled host losing its
pod, a registered host gaining one, a template change rolling one host at a
time, and a kill -9 of the service in the middle of a roll leaving no host with
two pods.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import Host
from tests.e2e.daemonsets_kit import (
    ENGINES,
    DaemonPod,
    agent_page,
    agent_yaml,
    ds_status,
    netns_host,
    nodes_yaml,
    per_node,
)
from tests.e2e.service import ServiceRun, containers, remove_all, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

ENV = {"RECONCILER_RUNTIME_HOST_PATH_ALLOW": "/var/lib",
       "RECONCILER_NETWORK_PROXY_MODE": "off"}


def _up(name: str) -> None:
    up = netns_host(name, "up")
    if up.returncode != 0:
        netns_host(name, "down")
        pytest.skip(f"Docker host {name} unavailable: {up.stderr.strip() or up.stdout.strip()}")


@pytest.fixture
def run(svc_factory: list[ServiceRun], tmp_path: Path, hostb: Host) -> Iterator[ServiceRun]:
    """The service (not started) and hoste beside hostb; the service's containers are removed
    from every host afterwards, and hoste stopped."""
    _up("hoste")
    service = ServiceRun(tmp_path, extra_env=ENV)
    svc_factory.append(service)
    try:
        yield service
    finally:
        if service.proc is not None and service.proc.poll() is None:
            service.stop()
        for url in (ENGINES["hoste"], ENGINES["hostg"]):
            if Path(url[len("unix://"):]).exists():
                remove_all(service.prefix, url)
        netns_host("hoste", "down")


@pytest.fixture
def third_host(run: ServiceRun) -> Iterator[str]:
    """hostg up for this test (not registered yet); afterwards the service is stopped, its
    containers there removed and hostg stopped."""
    _up("hostg")
    yield ENGINES["hostg"]
    if run.proc is not None and run.proc.poll() is None:
        run.stop()
    remove_all(run.prefix, ENGINES["hostg"])
    netns_host("hostg", "down")


def ready_on(run: ServiceRun, nodes: set[str], revision: str = "") -> dict[str, DaemonPod]:
    """One ready pod (of `revision` when given) on each of `nodes` and on no other node."""
    found = per_node(run)
    if set(found) != nodes:
        return {}
    out = {}
    for node, pods in found.items():
        if len(pods) != 1 or not pods[0].ready or pods[0].deleting:
            return {}
        if revision and pods[0].revision != revision:
            return {}
        out[node] = pods[0]
    return out


def serving(node: str, text: str) -> bool:
    return text in agent_page(node)


def agent_containers(run: ServiceRun, node: str) -> list[str]:
    """The log agent's app containers on a host (k8s_agent_<pod>_...)."""
    return [c for c in containers(run.prefix, ENGINES[node]) if "_agent_log-agent-" in c]


class TestDaemonSet:
    def test_hosts_come_go_and_roll(self, run: ServiceRun, third_host: str) -> None:
        """One agent per matching host reading its own host's logs read-only; a relabelled
        host loses it, a registered host gains it, a template change rolls host by host."""
        both = {"hoste": {"agent": "yes"}, "hostb": {"agent": "yes"}}
        run.write("nodes.yaml", nodes_yaml(both))
        run.write("agent.yaml", agent_yaml("1", selector={"agent": "yes"}))
        run.start()
        first = wait_until(lambda: ready_on(run, {"hoste", "hostb"}), timeout=180,
                           what="one ready agent on hoste and on hostb")
        for node in ("hoste", "hostb"):
            page = wait_until(partial(agent_page, node), timeout=30, what=f"{node}'s page")
            assert f"node={node} version=1" in page and "self=yes ro=yes" in page, page
            assert first[node].name.startswith("log-agent-") and len(first[node].name) == 15
        status = wait_until(lambda: (s := ds_status(run)).get("numberReady") == 2 and s,
                            timeout=60, what="status numberReady 2")
        assert status["desiredNumberScheduled"] == 2 and status["currentNumberScheduled"] == 2
        assert status["updatedNumberScheduled"] == 2 and status["numberAvailable"] == 2
        table = run.cli("get", "ds").stdout
        assert table.split("\n")[0].split() == ["NAME", "DESIRED", "CURRENT", "READY",
                                               "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR",
                                               "AGE"]
        assert table.split("\n")[1].split()[:7] == ["log-agent", "2", "2", "2", "2", "2",
                                                   "agent=yes"]

        # hostb relabelled: its pod goes, hoste's stays as it was.
        run.write("nodes.yaml", nodes_yaml({**both, "hostb": {"agent": "no"}}))
        wait_until(lambda: set(per_node(run)) == {"hoste"} and not agent_containers(run, "hostb"),
                   timeout=120, what="hostb's agent gone")
        assert ready_on(run, {"hoste"})["hoste"].name == first["hoste"].name
        wait_until(lambda: ds_status(run).get("desiredNumberScheduled") == 1, timeout=60,
                   what="desired 1")

        # hostg registered: it gets an agent reading hostg's own folder.
        three = {**both, "hostb": {"agent": "no"}, "hostg": {"agent": "yes"}}
        run.write("nodes.yaml", nodes_yaml(three))
        wait_until(lambda: ready_on(run, {"hoste", "hostg"}), timeout=180,
                   what="an agent on hostg")
        page = wait_until(lambda: agent_page("hostg"), timeout=30, what="hostg's page")
        assert "node=hostg version=1" in page and "self=yes ro=yes" in page, page

        # A template change: one host at a time (maxUnavailable 1), never two pods on one.
        old = {n: p.revision for n, p in ready_on(run, {"hoste", "hostg"}).items()}
        run.write("agent.yaml", agent_yaml("2", selector={"agent": "yes"}))
        timeline: list[dict[str, list[DaemonPod]]] = []
        deadline = time.monotonic() + 240
        done: dict[str, DaemonPod] = {}
        while time.monotonic() < deadline:
            now = per_node(run)
            timeline.append(now)
            assert all(len(pods) <= 1 for pods in now.values()), now
            unready = [n for n in ("hoste", "hostg")
                       if not any(p.ready and not p.deleting for p in now.get(n, []))]
            assert len(unready) <= 1, now
            done = {n: pods[0] for n, pods in now.items()
                    if pods and pods[0].ready and pods[0].revision not in (old[n], "")}
            if set(done) == {"hoste", "hostg"}:
                break
            time.sleep(0.3)
        assert set(done) == {"hoste", "hostg"}, timeline[-1]
        # One host at a time: when the first new pod shows, the other host still has its old
        # one (it goes only once that new pod is ready). Sampled from the first new pod,
        # not the first ready one: a slow sample on a loaded machine can miss the window.
        first_new = next(i for i, t in enumerate(timeline) if any(
            p.revision not in (old[n], "") for n, ps in t.items() for p in ps))
        assert any(p.revision == old[n] for n, ps in timeline[first_new].items() for p in ps)
        for node in ("hoste", "hostg"):
            wait_until(partial(serving, node, "version=2"), timeout=30,
                       what=f"{node} serving version 2")
            assert len(agent_containers(run, node)) == 1
        assert not agent_containers(run, "hostb")

    def test_kill9_mid_roll(self, run: ServiceRun) -> None:
        """kill -9 of the service while a roll is under way: after the restart the roll
        finishes and no host ever had two agent pods or two agent containers."""
        both: dict[str, dict[str, str]] = {"hoste": {}, "hostb": {}}
        run.write("nodes.yaml", nodes_yaml(both))
        run.write("agent.yaml", agent_yaml("1"))
        run.start()
        before = wait_until(lambda: ready_on(run, {"hoste", "hostb"}), timeout=180,
                            what="agents on both hosts")
        old = {n: p.revision for n, p in before.items()}
        run.write("agent.yaml", agent_yaml("2"))

        def watch() -> dict[str, list[DaemonPod]]:
            now = per_node(run)
            assert all(len(ps) <= 1 for ps in now.values()), now
            for node in ("hoste", "hostb"):
                assert len(agent_containers(run, node)) <= 1, node
            return now

        wait_until(lambda: any(p.deleting or p.revision != old[n]
                               for n, ps in watch().items() for p in ps),
                   timeout=120, interval=0.1, what="the roll under way")
        run.kill9()
        watch()
        run.start()
        def rolled() -> dict[str, DaemonPod]:
            watch()
            now = ready_on(run, {"hoste", "hostb"})
            return now if now and all(p.revision != old[n] for n, p in now.items()) else {}

        after = wait_until(rolled, timeout=240, interval=0.3,
                           what="the roll finished after the restart")
        assert {n: p.revision for n, p in after.items()} != old
        for node in ("hoste", "hostb"):
            wait_until(partial(serving, node, "version=2"), timeout=30,
                       what=f"{node} serving version 2")
            assert len(agent_containers(run, node)) == 1
