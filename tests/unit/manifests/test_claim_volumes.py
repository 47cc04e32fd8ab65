"""The persistentVolumeClaim volume source in Pods and pod templates: accepted, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import load_folder

POD = """apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  volumes:
  - name: www
    {source}
  containers:
  - name: app
    image: busybox:1.36
    volumeMounts: [{{name: www, mountPath: /www}}]
"""

RC = """apiVersion: v1
kind: ReplicationController
metadata: {name: r}
spec:
  replicas: 1
  selector: {app: r}
  template:
    metadata: {labels: {app: r}}
    spec:
      volumes: [{name: www, persistentVolumeClaim: {claimName: data, readOnly: true}}]
      containers: [{name: app, image: busybox:1.36}]
"""


CLAIMS = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %s}
spec: {accessModes: [ReadWriteOnce]}
"""


def load(tmp_path: Path, text: str, claim: str = "") -> tuple[int, list[str]]:
    (tmp_path / "obj.yaml").write_text(text)
    if claim:
        (tmp_path / "claim.yaml").write_text(CLAIMS % claim)
    result = load_folder(tmp_path)
    return len(result.objects), [d.render() for d in result.diagnostics]


class TestClaimVolumeSource:
    def test_pod_accepted(self, tmp_path: Path) -> None:
        """A Pod mounting a declared claim loads without diagnostics."""
        count, found = load(tmp_path, POD.format(source="persistentVolumeClaim: {claimName: c}"),
                            claim="c")
        assert (count, found) == (2, [])

    def test_undeclared_claim_warns(self, tmp_path: Path) -> None:
        """A claim nothing declares is a warning naming it: the pod would stay Pending."""
        count, found = load(tmp_path, POD.format(source="persistentVolumeClaim: {claimName: c}"))
        assert count == 1 and len(found) == 1 and ": warning: " in found[0], found
        assert "claim 'c' is not declared in namespace 'default'" in found[0]

    def test_template_accepted(self, tmp_path: Path) -> None:
        """A pod template may use a claim, readOnly included."""
        assert load(tmp_path, RC, claim="data") == (2, [])

    @pytest.mark.parametrize(("source", "expected"), [
        ("persistentVolumeClaim: {}", "persistentVolumeClaim.claimName: required field"),
        ("persistentVolumeClaim: {claimName: Bad_Name}",
         "claimName 'Bad_Name' is not a valid DNS-1123 subdomain"),
        ("persistentVolumeClaim: {claimName: c}\n    emptyDir: {}",
         "a volume has one source: emptyDir and persistentVolumeClaim given"),
        ("persistentVolumeClaim: {claimName: c, size: 1Gi}", "unknown field 'size'"),
    ])
    def test_refused(self, tmp_path: Path, source: str, expected: str) -> None:
        """A claim without a valid name, or next to another source, is an error."""
        count, found = load(tmp_path, POD.format(source=source))
        assert count == 0 and any(": error: " in r and expected in r for r in found), found
