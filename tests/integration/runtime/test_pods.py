"""A pod on one real Docker host: shared namespaces, init containers, volumes, the spec mapping."""

from __future__ import annotations

import docker
import pytest

from reconciler.runtime import naming
from reconciler.runtime.types import PodEnv
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker

HTTPD = {"name": "web", "image": BUSYBOX, "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
         "ports": [{"containerPort": 8080, "name": "http"}]}


def running(result: object) -> bool:
    return getattr(result, "phase", "") == "Running" and all(
        c.state == "running" for c in getattr(result, "containers", []))


class TestPodSandbox:
    def test_containers_share_localhost_and_hostname(self, harness: Harness) -> None:
        """Two containers of a pod reach each other on localhost and report the pod's hostname."""
        pod = make_pod("duo", {"containers": [
            {**HTTPD, "command": ["sh", "-c", "mkdir -p /www; hostname > /www/index.html; "
                                  "exec httpd -f -p 8080 -h /www"]},
            {"name": "client", "image": BUSYBOX, "command": ["sleep", "3600"]},
        ]})
        result = harness.converge(pod, running)
        assert result.pod_ip and result.ports["8080/TCP"] > 0
        got = harness.agent.exec(pod.uid, "client", [
            "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 8080; hostname"])
        assert got.exit_code == 0
        lines = got.output.decode().split()
        assert "200" in lines and lines.count("duo") == 2  # the server's hostname, then ours

    def test_init_containers_run_first_in_order(self, harness: Harness) -> None:
        """initContainers run to completion in order before the app container starts."""
        mount = [{"name": "data", "mountPath": "/data"}]
        pod = make_pod("inits", {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "initContainers": [
                {"name": "first", "image": BUSYBOX, "volumeMounts": mount,
                 "command": ["sh", "-c", "sleep 1; echo first >> /data/order"]},
                {"name": "second", "image": BUSYBOX, "volumeMounts": mount,
                 "command": ["sh", "-c", "echo second >> /data/order"]},
            ],
            "containers": [{"name": "app", "image": BUSYBOX, "volumeMounts": mount,
                            "command": ["sh", "-c", "echo app >> /data/order; sleep 3600"]}],
        })
        first = harness.agent.sync_pod(pod, PodEnv())
        assert first.phase == "Pending"
        assert [c.state for c in first.init_containers] == ["running", "waiting"]
        assert first.containers[0].reason == "PodInitializing"
        result = harness.converge(pod, running)
        assert [c.reason for c in result.init_containers] == ["Completed", "Completed"]
        assert result.conditions[0].type == "Initialized" and result.conditions[0].status
        got = harness.agent.exec(pod.uid, "app", ["cat", "/data/order"])
        assert got.output.decode().split() == ["first", "second", "app"]

    def test_spec_mapping(self, harness: Harness, docker_client: docker.DockerClient) -> None:
        """command/args, workingDir, env and fieldRefs, limits and runAsUser reach Docker."""
        pod = make_pod("mapped", {"containers": [{
            "name": "c", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c"], "args": ["echo $(GREETING) $0; sleep 3600", "arg0"],
            "workingDir": "/tmp", "securityContext": {"runAsUser": 65534},
            "env": [{"name": "GREETING", "value": "hi-$(POD)"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}},
        }]}, labels={"app": "x"})
        harness.agent.config.image_map["busybox"] = BUSYBOX
        result = harness.converge(pod, running)
        cid = result.containers[0].container_id.removeprefix("docker://")
        attrs = docker_client.api.inspect_container(cid)
        assert attrs["Config"]["Entrypoint"] == ["sh", "-c"]
        # args are $(VAR)-expanded with the env defined so far
        assert attrs["Config"]["Cmd"] == ["echo hi-$(POD) $0; sleep 3600", "arg0"]
        assert attrs["Config"]["WorkingDir"] == "/tmp" and attrs["Config"]["User"] == "65534"
        env = dict(e.split("=", 1) for e in attrs["Config"]["Env"])
        assert env["POD"] == "mapped" and env["IP"] == result.pod_ip
        assert env["GREETING"] == "hi-$(POD)"  # POD is defined after GREETING: not expanded
        assert attrs["HostConfig"]["NanoCpus"] == 250_000_000
        assert attrs["HostConfig"]["Memory"] == 64 * 2**20
        assert attrs["Config"]["Labels"][naming.CONTAINER] == "c"
        assert f'Image "busybox:1.36" is mapped to "{BUSYBOX}" by the image map' in [
            e.message for e in harness.events]
        status = harness.agent.exec(pod.uid, "c", ["grep", "^Uid:", "/proc/self/status"])
        assert status.output.split()[1] == b"65534"


class TestVolumes:
    def test_empty_dir_shared_and_removed_with_the_pod(
        self, harness: Harness, docker_client: docker.DockerClient
    ) -> None:
        """An emptyDir is one Docker volume seen by both containers, removed by kill_pod."""
        mount = [{"name": "shared", "mountPath": "/shared"}]
        pod = make_pod("vols", {"volumes": [{"name": "shared", "emptyDir": {}}], "containers": [
            {"name": "writer", "image": BUSYBOX, "volumeMounts": mount,
             "command": ["sh", "-c", "echo written > /shared/f; sleep 3600"]},
            {"name": "reader", "image": BUSYBOX, "volumeMounts": mount,
             "command": ["sleep", "3600"]},
        ]})
        harness.converge(pod, running)
        harness.converge(pod, lambda _: harness.agent.exec(
            pod.uid, "reader", ["cat", "/shared/f"]).output == b"written\n", timeout=10)
        label = f"{naming.POD_UID}={pod.uid}"
        assert len(docker_client.api.volumes(filters={"label": label})["Volumes"] or []) == 1
        harness.agent.kill_pod(pod.uid, 0)
        assert not docker_client.api.volumes(filters={"label": label})["Volumes"]
        assert not docker_client.containers.list(all=True, filters={"label": label})

    def test_host_path_outside_allow_list_refused(
        self, harness: Harness, docker_client: docker.DockerClient
    ) -> None:
        """A hostPath outside the allow-list creates nothing and says why."""
        pod = make_pod("hp", {"volumes": [{"name": "etc", "hostPath": {"path": "/etc"}}],
                              "containers": [{"name": "c", "image": BUSYBOX,
                                              "volumeMounts": [{"name": "etc",
                                                                "mountPath": "/h"}]}]})
        result = harness.agent.sync_pod(pod, PodEnv())
        assert result.phase == "Pending"
        assert result.containers[0].reason == "CreateContainerConfigError"
        assert "hostPath /etc is not under an allowed path" in result.containers[0].message
        assert not docker_client.containers.list(
            all=True, filters={"label": f"{naming.POD_UID}={pod.uid}"})
