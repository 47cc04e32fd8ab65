"""securityContext, lifecycle hooks and startupProbe in manifests: accepted as written, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import load_folder

POD = """apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    runAsNonRoot: true
    supplementalGroups: [4000]
    fsGroup: 2000
    seccompProfile: {{type: RuntimeDefault}}
    sysctls: [{{name: net.ipv4.ip_unprivileged_port_start, value: "0"}}]
  {init}
  containers:
  - name: app
    image: busybox:1.36
    ports: [{{containerPort: 8080, name: http}}]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL], add: [NET_BIND_SERVICE]}}
      seccompProfile: {{type: Unconfined}}
    lifecycle:
      postStart: {{exec: {{command: [sh, -c, "true"]}}}}
      preStop: {hook}
    startupProbe: {{httpGet: {{path: /, port: http}}, failureThreshold: 30{success}}}
"""


def load(tmp_path: Path, hook: str = "{sleep: {seconds: 1}}", init: str = "",
         success: str = "") -> tuple[list[str], int]:
    (tmp_path / "pod.yaml").write_text(POD.format(hook=hook, init=init, success=success))
    result = load_folder(tmp_path)
    return [d.render() for d in result.diagnostics], len(result.objects)


class TestSecurityAndHookFields:
    def test_accepted_without_a_word(self, tmp_path: Path) -> None:
        """Every field of the hardened pod is implemented: no warning, no error, kept."""
        rendered, count = load(tmp_path)
        assert rendered == [] and count == 1
        [obj] = load_folder(tmp_path).objects
        container = obj.body["spec"]["containers"][0]
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert "preStop" in container["lifecycle"] and "startupProbe" in container

    @pytest.mark.parametrize(("hook", "init", "success", "expected"), [
        ("{}", "", "", "a lifecycle hook needs exactly one of exec, httpGet, sleep"),
        ("{sleep: {seconds: 1}, exec: {command: [x]}}", "", "", "(found exec, sleep)"),
        ("{sleep: {seconds: 1}}", "", ", successThreshold: 2",
         "must be 1 for liveness and startup probes"),
        ("{tcpSocket: {port: 80}}", "", "", "tcpSocket"),
        ("{sleep: {seconds: 1}}", "initContainers: [{name: i, image: busybox:1.36, "
         "lifecycle: {preStop: {sleep: {seconds: 1}}}}]", "",
         "spec.initContainers[0].lifecycle: may not be set for init containers"),
    ])
    def test_refused(self, tmp_path: Path, hook: str, init: str, success: str,
                     expected: str) -> None:
        """Hooks need one handler (tcpSocket is not one); startup probes succeed once."""
        rendered, _ = load(tmp_path, hook, init, success)
        assert any(expected in r for r in rendered), rendered

    def test_seccomp_localhost_refused(self, tmp_path: Path) -> None:
        """A Localhost seccomp profile cannot run here: refused at validation."""
        (tmp_path / "pod.yaml").write_text(
            POD.format(hook="{sleep: {seconds: 1}}", init="", success="")
            .replace("{type: Unconfined}", "{type: Localhost, localhostProfile: p.json}"))
        rendered = [d.render() for d in load_folder(tmp_path).diagnostics]
        assert any("seccompProfile" in r and "error" in r for r in rendered), rendered


class TestDefaultHostPolicy:
    def test_capability_and_sysctl_outside_defaults_warned(self, tmp_path: Path) -> None:
        """A capability beyond Docker's set and an unsafe sysctl are accepted with a warning
        naming the setting that allows them (the runtime refuses them by default)."""
        text = (POD.format(hook="{sleep: {seconds: 1}}", init="", success="")
                .replace("add: [NET_BIND_SERVICE]", "add: [NET_BIND_SERVICE, IPC_LOCK]")
                .replace("net.ipv4.ip_unprivileged_port_start", "kernel.msgmax"))
        (tmp_path / "pod.yaml").write_text(text)
        result = load_folder(tmp_path)
        rendered = [d.render() for d in result.diagnostics]
        assert len(result.objects) == 1
        assert any("capabilities.add: IPC_LOCK is outside Docker's default capabilities" in r
                   and "runtime.allowed_capabilities" in r for r in rendered), rendered
        assert any("sysctls[0].name: sysctl kernel.msgmax is not in kubelet's safe set" in r
                   for r in rendered), rendered
        assert all(": warning: " in r for r in rendered), rendered
