"""securityContext -> Docker options (runtime/security.py), hook helpers (lifecycle.py),
the volume-ownership script (volumeperms.py) and the node's well-known labels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.api.records import NodeRecord
from reconciler.control.nodes import node_from_object, observed_labels
from reconciler.runtime import lifecycle, security, volumeperms
from reconciler.runtime.spec import SpecError


def sec(container: dict[str, Any] | None = None, pod: dict[str, Any] | None = None,
        allowed: tuple[str, ...] | None = None) -> security.ContainerSecurity:
    return security.container_security(
        {"name": "c", "securityContext": container or {}}, {"securityContext": pod or {}},
        allowed)


class TestContainerSecurity:
    @pytest.mark.parametrize(("container", "pod", "user"), [
        ({}, {}, None),
        ({"runAsUser": 1000}, {}, "1000"),
        ({}, {"runAsUser": 5, "runAsGroup": 6}, "5:6"),
        ({"runAsUser": 7}, {"runAsUser": 5}, "7"),
        ({"runAsGroup": 9}, {"runAsUser": 5, "runAsGroup": 6}, "5:9"),
        ({"runAsUser": 0}, {"runAsUser": 5}, "0"),
    ])
    def test_user_container_over_pod(self, container: dict[str, Any], pod: dict[str, Any],
                                     user: str | None) -> None:
        """runAsUser/runAsGroup: the container's value wins over the pod's, 0 included."""
        assert sec(container, pod).user() == user

    def test_group_alone_keeps_image_user(self) -> None:
        """runAsGroup without runAsUser keeps the image's user with the new group."""
        s = sec({"runAsGroup": 50})
        assert s.needs_image_user
        assert s.user("nobody") == "nobody:50"
        assert s.user("") == "0:50"
        assert s.user("101:101") == "101:50"

    def test_groups(self) -> None:
        """supplementalGroups then fsGroup become GroupAdd, without duplicates."""
        s = sec(pod={"supplementalGroups": [4000, 2000], "fsGroup": 2000})
        assert s.host_config()["group_add"] == ["4000", "2000"]

    def test_hardening_options(self) -> None:
        """readOnlyRootFilesystem, allowPrivilegeEscalation false and capabilities map to
        read_only, no-new-privileges, cap_drop/cap_add (CAP_ prefix and case normalised)."""
        s = sec({"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                 "capabilities": {"drop": ["all"], "add": ["CAP_NET_BIND_SERVICE", "chown"]}})
        assert s.host_config() == {
            "read_only": True, "security_opt": ["no-new-privileges"],
            "cap_drop": ["ALL"], "cap_add": ["NET_BIND_SERVICE", "CHOWN"]}

    def test_nothing_set_changes_nothing(self) -> None:
        """No securityContext: no Docker option at all (the image and Docker decide)."""
        assert sec().host_config() == {}
        assert sec({"allowPrivilegeEscalation": True}).host_config() == {}

    def test_capability_outside_allow_list(self) -> None:
        """Adding a capability outside the allow-list (default: Docker's set) is refused."""
        with pytest.raises(security.SecurityError, match="SYS_ADMIN is not allowed") as e:
            sec({"capabilities": {"add": ["SYS_ADMIN"]}})
        assert isinstance(e.value, SpecError)
        assert sec({"capabilities": {"add": ["SYS_ADMIN"]}}, allowed=("SYS_ADMIN",)).cap_add
        with pytest.raises(security.SecurityError):
            sec({"capabilities": {"add": ["NET_RAW"]}}, allowed=())

    @pytest.mark.parametrize(("container", "pod", "opts"), [
        ({"seccompProfile": {"type": "RuntimeDefault"}}, {}, []),
        ({"seccompProfile": {"type": "Unconfined"}}, {}, ["seccomp=unconfined"]),
        ({}, {"seccompProfile": {"type": "Unconfined"}}, ["seccomp=unconfined"]),
        ({"seccompProfile": {"type": "RuntimeDefault"}},
         {"seccompProfile": {"type": "Unconfined"}}, []),
    ])
    def test_seccomp(self, container: dict[str, Any], pod: dict[str, Any],
                     opts: list[str]) -> None:
        """RuntimeDefault keeps Docker's profile; Unconfined turns it off; container wins."""
        assert sec(container, pod).host_config().get("security_opt", []) == opts

    def test_seccomp_localhost_refused(self) -> None:
        """A Localhost profile cannot run here: a clear error, not a silent default."""
        with pytest.raises(security.SecurityError, match="Localhost is not supported"):
            sec({"seccompProfile": {"type": "Localhost", "localhostProfile": "x.json"}})


class TestRunAsNonRoot:
    POD = "web_default(u1)"

    @pytest.mark.parametrize("image_user", ["", "0", "root", "0:0"])
    def test_root_image_refused(self, image_user: str) -> None:
        """An image running as root is refused with kubelet's message."""
        got = sec({"runAsNonRoot": True}).refusal(image_user, self.POD, "c")
        assert got == ('container has runAsNonRoot and image will run as root '
                       '(pod: "web_default(u1)", container: c)')

    def test_run_as_user_zero_refused(self) -> None:
        """runAsUser 0 with runAsNonRoot breaks the policy, whatever the image."""
        got = sec({"runAsNonRoot": True, "runAsUser": 0}).refusal("1000", self.POD, "c")
        assert got is not None and got.startswith("container's runAsUser breaks non-root policy")

    def test_named_user_cannot_be_verified(self) -> None:
        """A user name cannot be proven non-root: refused, as kubelet does."""
        got = sec(pod={"runAsNonRoot": True}).refusal("nobody", self.POD, "c")
        assert got is not None and "non-numeric user (nobody)" in got

    @pytest.mark.parametrize(("container", "image_user"), [
        ({"runAsNonRoot": True, "runAsUser": 1000}, ""),
        ({"runAsNonRoot": True}, "1000"),
        ({"runAsNonRoot": True}, "1000:1000"),
        ({"runAsNonRoot": False}, ""),
        ({}, ""),
    ])
    def test_allowed(self, container: dict[str, Any], image_user: str) -> None:
        """A non-zero user (set or from the image), or no policy: no refusal."""
        assert sec(container).refusal(image_user, self.POD, "c") is None


class TestSysctls:
    def test_safe_ones_pass(self) -> None:
        """Safe sysctls (slash form too) become the infra container's sysctls."""
        spec = {"securityContext": {"sysctls": [
            {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
            {"name": "kernel/shm_rmid_forced", "value": "1"}]}}
        assert security.pod_sysctls(spec) == {"net.ipv4.ip_unprivileged_port_start": "0",
                                              "kernel.shm_rmid_forced": "1"}

    def test_unsafe_refused(self) -> None:
        """An unsafe sysctl is refused in kubelet's words unless allowed by configuration."""
        spec = {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}}
        with pytest.raises(security.SecurityError,
                           match=r'forbidden sysctl: "kernel\.msgmax" not allowlisted'):
            security.pod_sysctls(spec)
        assert security.pod_sysctls(spec, ("kernel.msgmax",)) == {"kernel.msgmax": "65536"}


class TestVolumeOwnership:
    def test_needed_only_for_non_root_or_fs_group(self) -> None:
        """Only a pod with fsGroup or a non-root runAsUser pays for the fix-up container."""
        assert not volumeperms.needed({"containers": [{"name": "a"}]})
        assert not volumeperms.needed({"containers": [
            {"name": "a", "securityContext": {"runAsUser": 0}}]})
        assert volumeperms.needed({"securityContext": {"fsGroup": 2000}, "containers": []})
        assert volumeperms.needed({"containers": [
            {"name": "a", "securityContext": {"runAsUser": 1000}}]})
        assert volumeperms.needed({"securityContext": {"runAsUser": 1000},
                                   "initContainers": [{"name": "i"}], "containers": []})

    def test_script(self) -> None:
        """emptyDirs become 0777; with fsGroup every volume is the group's, setgid dirs."""
        assert volumeperms.script(["/v/empty0"], ["/v/claim0"], None) == (
            "set -e\nchmod 0777 /v/empty0")
        text = volumeperms.script(["/v/empty0"], ["/v/claim0"], 2000)
        assert "chgrp -R 2000 /v/claim0 && chmod -R g+rwX /v/claim0" in text
        assert "find /v/empty0 -type d -exec chmod g+s {} +" in text


class TestHookHelpers:
    def test_pre_stop_label_round_trip(self) -> None:
        """The preStop handler is kept in a label, named ports resolved to numbers."""
        c = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}],
             "lifecycle": {"preStop": {"httpGet": {"path": "/quit", "port": "http"}}}}
        labels = lifecycle.hook_labels(c)
        assert lifecycle.pre_stop_from_labels(labels) == {
            "httpGet": {"path": "/quit", "port": 8080}}
        assert lifecycle.hook_labels({"name": "x"}) == {}
        assert lifecycle.pre_stop_from_labels({lifecycle.PRE_STOP: "{bad"}) is None

    @pytest.mark.parametrize(("grace", "elapsed", "left"), [
        (30, 0.0, 30), (30, 10.2, 20), (30, 29.5, 2), (30, 45.0, 2), (5, 1.0, 4)])
    def test_remaining_grace(self, grace: int, elapsed: float, left: int) -> None:
        """The hook's time counts against the grace; at least 2 s remain for SIGTERM."""
        assert lifecycle.remaining_grace(grace, elapsed) == left

    def test_failure_message(self) -> None:
        """Hook failures read as kubelet's."""
        got = lifecycle.failure_message({"exec": {"command": ["sh", "-c", "exit 3"]}}, "c",
                                        "p_default(u)", "command 'sh -c exit 3' exited with 3: ")
        assert got == ('Exec lifecycle hook ([sh -c exit 3]) for Container "c" in Pod '
                       '"p_default(u)" failed - error: command \'sh -c exit 3\' exited with 3: '
                       ', message: ""')


class TestNodeLabels:
    @pytest.mark.parametrize(("arch", "goarch"), [
        ("x86_64", "amd64"), ("aarch64", "arm64"), ("armv7l", "arm"), ("s390x", "s390x")])
    def test_observed(self, arch: str, goarch: str) -> None:
        """The engine's OSType and Architecture become the well-known labels and aliases."""
        assert observed_labels("hostb", "linux", arch) == {
            "kubernetes.io/hostname": "hostb",
            "kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": goarch, "beta.kubernetes.io/arch": goarch}

    def test_unknown_engine_facts(self) -> None:
        """An engine that does not say leaves os and arch out (no guess)."""
        assert observed_labels("n", "", "") == {"kubernetes.io/hostname": "n"}

    def test_manifest_keeps_observed_labels(self) -> None:
        """Re-reading a Node manifest keeps the engine's labels, which win over its own."""
        now = datetime.now(UTC)
        seen = NodeRecord(name="b", engine_url="unix:///x", created_at=now, labels={
            "disk": "old", **observed_labels("b", "linux", "x86_64")})
        body = {"metadata": {"name": "b", "labels": {"disk": "ssd",
                                                    "kubernetes.io/arch": "arm64"}},
                "spec": {"engine": "unix:///x"}}
        labels = node_from_object(body, seen, now).labels
        assert labels["disk"] == "ssd" and labels["kubernetes.io/arch"] == "amd64"
        assert labels["kubernetes.io/os"] == "linux"
