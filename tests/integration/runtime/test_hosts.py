"""Hosts: adoption with one list call, the second host's published ports, images built offline."""

from __future__ import annotations

import http.client
from collections.abc import Callable

import docker
import pytest

from reconciler.runtime import images
from reconciler.runtime.types import HostUnreachable, PodEnv, PodSync
from tests.conftest import Host
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod, node

pytestmark = pytest.mark.docker


def running(result: PodSync) -> bool:
    return result.phase == "Running" and all(c.state == "running" for c in result.containers)


class TestAdoption:
    def test_new_agent_lists_pods_with_one_call_and_creates_nothing(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """A fresh agent finds every pod with exactly one list request; syncing creates nothing."""
        first = harness_factory()
        pods = [make_pod(f"adopt-{i}", {"containers": [
            {"name": "a", "image": BUSYBOX, "command": ["sleep", "3600"]},
            {"name": "b", "image": BUSYBOX, "command": ["sleep", "3600"]}]}) for i in range(3)]
        for pod in pods:
            first.converge(pod, running)
        second = harness_factory()
        found = second.agent.list_pods()
        assert dict(second.agent.engine.requests) == {"GET /containers/json": 1}
        assert set(found) == {p.uid for p in pods}
        for pod in pods:
            observed = found[pod.uid]
            assert (observed.name, observed.namespace) == (pod.name, "default")
            assert sorted(c.container for c in observed.containers) == ["POD", "a", "b"]
            assert observed.running and observed.infra is not None
        result = second.agent.sync_pod(pods[0], PodEnv())
        assert running(result)
        assert not [e for e in result.events if e.reason in ("Created", "Started")]
        assert len(second.agent.list_pods()[pods[0].uid].containers) == 3


class TestSecondHost:
    def test_published_ports_reachable_from_the_root_namespace(
        self, hostb: Host, harness_factory: Callable[..., Harness]
    ) -> None:
        """A pod on hostb publishes its port on 10.250.0.2; it answers from here."""
        h = harness_factory(node("hostb", hostb.url, hostb.address))
        assert h.agent.heartbeat().cpus > 0
        pod = make_pod("remote", {"containers": [{
            "name": "web", "image": BUSYBOX,
            "command": ["sh", "-c", "mkdir -p /www; hostname > /www/index.html; "
                        "exec httpd -f -p 8080 -h /www"],
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        }]})
        result = h.converge(pod, lambda r: r.conditions[2].status, timeout=30)
        assert result.host_ip == hostb.address
        port = result.ports["8080/TCP"]
        conn = http.client.HTTPConnection(hostb.address, port, timeout=5)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"remote\n")
        conn.close()

    def test_dead_host_is_unreachable_without_blocking(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """An engine that does not answer raises HostUnreachable at once."""
        h = harness_factory(node("ghost", "unix:///var/run/nothing-here.sock"))
        with pytest.raises(HostUnreachable):
            h.agent.heartbeat()
        with pytest.raises(HostUnreachable):
            h.agent.list_pods()


class TestHeartbeat:
    def test_the_bridge_is_inspected_once_per_refresh(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """A second heartbeat soon after the first pings the engine: no inspect, no /info."""
        h = harness_factory()
        first = h.agent.heartbeat()
        second = h.agent.heartbeat()
        assert second.pod_addresses == first.pod_addresses > 0
        requests = h.agent.engine.requests
        assert (requests["GET /networks/bridge"], requests["GET /_ping"],
                requests["GET /info"]) == (1, 1, 1)


class TestImages:
    def test_missing_infra_image_is_built_locally(
        self, harness_factory: Callable[..., Harness], docker_client: docker.DockerClient,
        test_prefix: str,
    ) -> None:
        """With its infra image missing and no registry, the driver builds it and runs the pod."""
        ref = f"reconciler/pause-{test_prefix}:1"
        h = harness_factory(infra_image=ref)
        try:
            pod = make_pod("infra", {"containers": [
                {"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]})
            h.converge(pod, running)
            assert docker_client.images.get(ref).attrs["Config"]["Entrypoint"][0] == "/pause"
            h.agent.kill_pod(pod.uid, 0)
        finally:
            docker_client.images.remove(ref, force=True)

    def test_never_pull_of_a_missing_image(self, harness: Harness) -> None:
        """imagePullPolicy Never with no local image: ErrImageNeverPull, nothing started."""
        pod = make_pod("noimg", {"containers": [
            {"name": "c", "image": "reconciler/absent:1", "imagePullPolicy": "Never"}]})
        result = harness.converge(pod, lambda r: r.containers[0].reason != "ContainerCreating")
        assert result.containers[0].reason == "ErrImageNeverPull"
        assert result.phase == "Pending"

    def test_infra_image_build_is_idempotent(self, docker_client: docker.DockerClient) -> None:
        """ensure_* leaves existing images alone."""
        assert not images.ensure_infra_image(docker_client).built
        assert not images.ensure_busybox_image(docker_client).built
