"""Fields beyond what we implement: ignored with a warning, refused, or a typo."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import load_folder

POD_WITH = """apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  {pod_field}
  containers:
  - name: app
    image: busybox:1.36
    {container_field}
"""


def load(tmp_path: Path, pod_field: str = "", container_field: str = "") -> list[str]:
    (tmp_path / "pod.yaml").write_text(POD_WITH.format(pod_field=pod_field,
                                                       container_field=container_field))
    return [d.render() for d in load_folder(tmp_path).diagnostics]


class TestUnsupportedFields:
    """Kubernetes fields we do not implement."""

    @pytest.mark.parametrize(("pod_field", "container_field", "expected"), [
        ("overhead: {}", "",
         "pod.yaml:6:3: warning: spec.overhead: field overhead has no effect here: "
         "not supported, ignored"),
        ("priorityClassName: high", "",
         "pod.yaml:6:3: warning: spec.priorityClassName: field priorityClassName has no effect"),
        ("", "stdin: true",
         "pod.yaml:10:5: warning: spec.containers[0].stdin: field stdin has no effect"),
        ("", "terminationMessagePolicy: File",
         "warning: spec.containers[0].terminationMessagePolicy: field terminationMessagePolicy "
         "has no effect"),
        ("", "resources: {limits: {nvidia.com/gpu: 1}}",
         "warning: spec.containers[0].resources.limits.nvidia.com/gpu: field nvidia.com/gpu "
         "has no effect here: not supported, ignored (only cpu and memory act)"),
        ("", "resources: {requests: {ephemeral-storage: 1Gi}}",
         "spec.containers[0].resources.requests.ephemeral-storage: field ephemeral-storage"),
    ])
    def test_warned_and_ignored(self, tmp_path: Path, pod_field: str, container_field: str,
                                expected: str) -> None:
        """The field is named with file and line, and the pod is still accepted."""
        rendered = load(tmp_path, pod_field, container_field)
        assert any(expected in r for r in rendered), rendered
        assert not any(": error: " in r for r in rendered)

    def test_ignored_field_is_removed_from_the_body(self, tmp_path: Path) -> None:
        """An ignored field does not reach the desired object (nor its hash)."""
        (tmp_path / "pod.yaml").write_text(POD_WITH.format(pod_field="overhead: {}",
                                                           container_field=""))
        [obj] = load_folder(tmp_path).objects
        assert "overhead" not in obj.body["spec"]

    @pytest.mark.parametrize(("pod_field", "container_field", "expected"), [
        ("hostPID: true", "", "spec.hostPID: hostPID is not supported"),
        ("hostIPC: true", "", "spec.hostIPC: hostIPC is not supported"),
        ("", "volumeDevices: [{name: v, devicePath: /dev/x}]", "volumeDevices are not supported"),
        ("", "securityContext: {privileged: true}", "privileged containers are not supported"),
        ("volumes: [{name: v, nfs: {server: s, path: /}}]", "",
         "volume type nfs is not supported (only emptyDir, hostPath, persistentVolumeClaim, "
         "configMap, secret and projected)"),
    ])
    def test_refused_where_ignoring_changes_what_runs(self, tmp_path: Path, pod_field: str,
                                                     container_field: str, expected: str) -> None:
        """Fields whose absence would change what runs are errors."""
        rendered = load(tmp_path, pod_field, container_field)
        assert any(": error: " in r and expected in r for r in rendered), rendered

    @pytest.mark.parametrize("pod_field", ["hostNetwork: false", "hostPID: false"])
    def test_refused_field_at_its_default_is_accepted(self, tmp_path: Path, pod_field: str) -> None:
        """hostNetwork: false is what we do anyway: no diagnostic."""
        assert load(tmp_path, pod_field) == []

    def test_server_written_fields(self, tmp_path: Path) -> None:
        """creationTimestamp: null (kubectl output) is silent; a status is a warning."""
        text = POD_WITH.format(pod_field="", container_field="").replace(
            "  name: p\n", "  name: p\n  creationTimestamp: null\n")
        (tmp_path / "pod.yaml").write_text(text + "status: {phase: Running}\n")
        rendered = [d.render() for d in load_folder(tmp_path).diagnostics]
        assert rendered == ["pod.yaml:12:1: warning: status: is written by the reconciler; ignored"]


class TestTypos:
    """Fields Kubernetes does not define."""

    @pytest.mark.parametrize(("container_field", "hint"), [
        ("imagePullPolcy: Always", "imagePullPolicy"),
        ("Ports: []", "ports"),
        ("livenesProbe: {}", "livenessProbe"),
        ("volumeMount: []", "volumeMounts"),
    ])
    def test_did_you_mean(self, tmp_path: Path, container_field: str, hint: str) -> None:
        """A close name is suggested."""
        rendered = load(tmp_path, "", container_field)
        assert any(f"did you mean {hint!r}" in r and ": error: " in r for r in rendered), rendered

    def test_no_suggestion_when_nothing_is_close(self, tmp_path: Path) -> None:
        """A field unlike any other gets no hint."""
        rendered = load(tmp_path, "", "zzzzzz: 1")
        assert any("unknown field 'zzzzzz'" in r and "did you mean" not in r for r in rendered)
