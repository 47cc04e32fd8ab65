"""End to end (issue 17): a hardened pod through the service as a user runs it: selected by
the node's well-known labels, its securityContext seen with `reconciler exec`, and its
preStop hook run before SIGTERM when its manifest is deleted."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from reconciler.control.nodes import observed_labels
from tests.e2e.service import ServiceRun, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]

GOARCH = observed_labels("x", "linux", platform.machine())["kubernetes.io/arch"]

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: secure}}
spec:
  terminationGracePeriodSeconds: 20
  nodeSelector:
    kubernetes.io/os: linux
    kubernetes.io/arch: {arch}
    beta.kubernetes.io/os: linux
  securityContext: {{runAsGroup: 3000, supplementalGroups: [4000]}}
  volumes:
  - {{name: m, hostPath: {{path: {marks}}}}}
  containers:
  - name: c
    image: reconciler/busybox:1
    command:
    - sh
    - -c
    - trap 'echo term >> /m/marks; exit 0' TERM; echo started >> /m/marks;
      while true; do sleep 1; done
    volumeMounts: [{{name: m, mountPath: /m}}]
    securityContext:
      runAsUser: 0
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL]}}
    lifecycle:
      preStop: {{exec: {{command: [sh, -c, "sleep 2; echo prestop >> /m/marks"]}}}}
"""


def marks(folder: Path) -> list[str]:
    path = folder / "marks"
    return path.read_text().split() if path.exists() else []


class TestHardenedPod:
    def test_labels_security_and_pre_stop(self, svc_factory: list[ServiceRun],
                                          tmp_path: Path) -> None:
        """nodeSelector on kubernetes.io/os and arch schedules; id, a failed write and CapEff
        show the securityContext; deleting the manifest runs preStop, then SIGTERM."""
        folder = tmp_path / "marks"
        folder.mkdir()
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off"),
                         extra_env={"RECONCILER_RUNTIME_HOST_PATH_ALLOW": str(folder)})
        svc_factory.append(run)
        run.write("secure.yaml", POD.format(arch=GOARCH, marks=folder))
        run.start()
        wait_until(lambda: [p for p in run.running() if p["metadata"]["name"] == "secure"],
                   timeout=90, what="pod secure running")
        [node] = run.get_json("nodes")["items"]
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"] == GOARCH
        assert labels["beta.kubernetes.io/arch"] == GOARCH

        out = run.cli("exec", "secure", "--", "id").stdout
        assert "uid=0" in out and "gid=3000" in out and "4000" in out, out
        write = run.cli("exec", "secure", "--", "touch", "/x", check=False)
        assert write.returncode != 0 and "Read-only file system" in write.stdout + write.stderr
        status = run.cli("exec", "secure", "--", "grep", "CapEff", "/proc/1/status").stdout
        assert status.split() == ["CapEff:", "0000000000000000"], status

        wait_until(lambda: marks(folder) == ["started"], what="the started marker")
        (run.desired / "secure.yaml").unlink()
        wait_until(lambda: not run.pods(), timeout=60, what="pod secure gone")
        assert marks(folder) == ["started", "prestop", "term"]
