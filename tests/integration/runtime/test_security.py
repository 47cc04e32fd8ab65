"""securityContext on a real engine, seen from inside the container: users, groups, a
read-only root, capabilities, no-new-privileges, runAsNonRoot, sysctls, fsGroup."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.api.records import PodRecord, claim_volume_name
from reconciler.runtime.types import PodSync
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker

SLEEP = ["sh", "-c", "exec sleep 3600"]


def running(result: PodSync) -> bool:
    return result.phase == "Running" and all(c.state == "running" for c in result.containers)


def config_error(result: PodSync) -> bool:
    return any(c.reason == "CreateContainerConfigError" for c in result.containers)


@pytest.fixture
def pods(harness: Harness) -> Iterator[list[PodRecord]]:
    """Pods the test made; killed (with their volumes) afterwards."""
    made: list[PodRecord] = []
    yield made
    for pod in made:
        harness.agent.kill_pod(pod.uid, 0)


def run(harness: Harness, pods: list[PodRecord], name: str, spec: dict[str, Any],
        until: Any = running) -> tuple[PodRecord, PodSync]:
    pod = make_pod(name, spec)
    pods.append(pod)
    return pod, harness.converge(pod, until, timeout=60)


def sh(harness: Harness, pod: PodRecord, script: str, container: str = "c") -> tuple[int, str]:
    got = harness.agent.exec(pod.uid, container, ["sh", "-c", script])
    return got.exit_code, got.output.decode(errors="replace")


class TestHardenedContainer:
    def test_user_read_only_root_and_no_capabilities(self, harness: Harness,
                                                     pods: list[PodRecord]) -> None:
        """runAsUser 1000, runAsGroup, supplementalGroups, readOnlyRootFilesystem, drop ALL and
        allowPrivilegeEscalation false show in `id`, a failed write and /proc/1/status."""
        pod, _ = run(harness, pods, "hardened", {
            "securityContext": {"runAsGroup": 3000, "supplementalGroups": [4000]},
            "containers": [{
                "name": "c", "image": BUSYBOX, "command": SLEEP,
                "securityContext": {"runAsUser": 1000, "readOnlyRootFilesystem": True,
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}}}]})
        code, out = sh(harness, pod, "id")
        assert code == 0 and "uid=1000" in out and "gid=3000" in out and "4000" in out, out
        code, out = sh(harness, pod, "touch /written")
        assert code != 0 and "Read-only file system" in out, out
        code, out = sh(harness, pod, "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/1/status")
        status = dict(line.split(":\t") for line in out.strip().splitlines())
        assert status == {"CapEff": "0000000000000000", "CapBnd": "0000000000000000",
                          "NoNewPrivs": "1"}, out

    def test_add_back_one_capability(self, harness: Harness, pods: list[PodRecord]) -> None:
        """drop ALL plus add NET_BIND_SERVICE leaves exactly that bit (10) in the bounding set."""
        pod, _ = run(harness, pods, "netbind", {"containers": [{
            "name": "c", "image": BUSYBOX, "command": SLEEP,
            "securityContext": {"capabilities": {"drop": ["ALL"],
                                                 "add": ["NET_BIND_SERVICE"]}}}]})
        _, out = sh(harness, pod, "grep CapBnd /proc/1/status")
        assert out.split()[-1] == f"{1 << 10:016x}", out

    def test_capability_outside_allow_list(self, harness: Harness,
                                           pods: list[PodRecord]) -> None:
        """SYS_ADMIN is outside Docker's default set: the container does not start, and says why."""
        _, result = run(harness, pods, "sysadmin", {"containers": [{
            "name": "c", "image": BUSYBOX, "command": SLEEP,
            "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}, config_error)
        assert "SYS_ADMIN is not allowed on this host" in result.containers[0].message


class TestSeccomp:
    @pytest.mark.parametrize(("profile", "mode"), [({"type": "RuntimeDefault"}, "2"),
                                                   ({"type": "Unconfined"}, "0")])
    def test_profile(self, harness: Harness, pods: list[PodRecord], profile: dict[str, str],
                     mode: str) -> None:
        """RuntimeDefault keeps Docker's filter (Seccomp: 2); Unconfined runs without (0)."""
        pod, _ = run(harness, pods, "seccomp", {"containers": [{
            "name": "c", "image": BUSYBOX, "command": SLEEP,
            "securityContext": {"seccompProfile": profile}}]})
        _, out = sh(harness, pod, "grep '^Seccomp:' /proc/1/status")
        assert out.split() == ["Seccomp:", mode], out


class TestRunAsNonRoot:
    def test_root_image_refused(self, harness: Harness, pods: list[PodRecord]) -> None:
        """runAsNonRoot on a root image: CreateContainerConfigError in kubelet's words."""
        pod, result = run(harness, pods, "nonroot", {"containers": [{
            "name": "c", "image": BUSYBOX, "command": SLEEP,
            "securityContext": {"runAsNonRoot": True}}]}, config_error)
        expected = (f'container has runAsNonRoot and image will run as root '
                    f'(pod: "nonroot_default({pod.uid})", container: c)')
        assert result.containers[0].message == expected
        assert any(e.reason == "Failed" and e.message == f"Error: {expected}"
                   for e in harness.events)

    def test_non_root_user_runs(self, harness: Harness, pods: list[PodRecord]) -> None:
        """runAsNonRoot with runAsUser 1000 (pod level) runs."""
        pod, _ = run(harness, pods, "nonroot-ok", {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
            "containers": [{"name": "c", "image": BUSYBOX, "command": SLEEP}]})
        assert sh(harness, pod, "id -u")[1].strip() == "1000"


class TestSysctlsAndVolumes:
    def test_safe_sysctl_applied_unsafe_refused(self, harness: Harness,
                                               pods: list[PodRecord]) -> None:
        """A safe sysctl is set in the pod's namespaces; an unsafe one keeps the pod waiting."""
        pod, _ = run(harness, pods, "sysctl", {
            "securityContext": {"sysctls": [
                {"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}]},
            "containers": [{"name": "c", "image": BUSYBOX, "command": SLEEP}]})
        assert sh(harness, pod, "cat /proc/sys/net/ipv4/ip_unprivileged_port_start")[1] == "80\n"
        _, result = run(harness, pods, "sysctl-bad", {
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
            "containers": [{"name": "c", "image": BUSYBOX, "command": SLEEP}]}, config_error)
        assert result.containers[0].message == 'forbidden sysctl: "kernel.msgmax" not allowlisted'

    def test_fs_group_owns_volumes(self, harness: Harness, pods: list[PodRecord]) -> None:
        """fsGroup: the emptyDir belongs to the group, setgid, and user 1000 writes there."""
        pod, _ = run(harness, pods, "fsgroup", {
            "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [{"name": "c", "image": BUSYBOX, "command": SLEEP,
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]})
        code, out = sh(harness, pod, "stat -c '%g %a' /data && touch /data/f && "
                                     "stat -c '%u %g' /data/f && id -G")
        assert code == 0, out
        assert out.split("\n")[:3] == ["2000 2777", "1000 2000", "0 2000"], out

    def test_fs_group_owns_claim_volume(self, harness: Harness,
                                        pods: list[PodRecord]) -> None:
        """fsGroup also gives a claim's volume (and what is already in it) to the group."""
        claim = f"data-t{uuid.uuid4().hex[:8]}"
        try:
            pod, _ = run(harness, pods, "fsclaim", {
                "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
                "containers": [{"name": "c", "image": BUSYBOX, "command": SLEEP,
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]})
            code, out = sh(harness, pod, "stat -c '%g %a' /data && touch /data/f")
            assert (code, out) == (0, "2000 2775\n"), out
        finally:
            for p in pods:
                harness.agent.kill_pod(p.uid, 0)
            harness.agent.remove_volume(claim_volume_name("default", claim))

    def test_empty_dir_writable_by_non_root(self, harness: Harness,
                                           pods: list[PodRecord]) -> None:
        """Without fsGroup an emptyDir is world-writable (0777), as Kubernetes makes it."""
        pod, _ = run(harness, pods, "emptydir", {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [{"name": "c", "image": BUSYBOX, "command": SLEEP,
                            "securityContext": {"runAsUser": 1000},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]})
        code, out = sh(harness, pod, "stat -c '%a' /data && touch /data/f")
        assert (code, out) == (0, "777\n")
