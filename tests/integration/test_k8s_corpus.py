"""`reconciler validate` over the real-world manifests in ../shared/k8s-corpus/real/, file by file.

Each file is validated alone (the corpus declares the same names in several
files on purpose) by the real CLI in a subprocess, and its verdict is compared
with the table below: accepted, accepted with named warnings, or refused with
named reasons. Skipped when the corpus is absent.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "k8s-corpus" / "real"
RECONCILER = Path(sys.executable).with_name("reconciler")

# file -> fragments that must appear, each on a line of that severity
REFUSED: dict[str, list[str]] = {
    "kubernetes-examples/head/_archived/sysdig-cloud/sysdig-rc.yaml": [
        "33:7: error: spec.template.spec.hostNetwork: hostNetwork is not supported",
        "34:7: error: spec.template.spec.hostPID: hostPID is not supported",
        "42:10: error: spec.template.spec.containers[0].securityContext.privileged: "
        "privileged containers are not supported",
    ],
    "kubernetes-in-action/Chapter06/mongodb-pod-hostpath.yaml": [
        "9:13: error: spec.volumes[0].hostPath.path: hostPath /tmp/mongodb is not under an "
        "allowed path (none): the runtime refuses to start this pod"],
    "kubernetes-kubernetes/cluster/addons/dns/kubedns-svc.yaml.sed": [
        "31:14: error: spec.clusterIP: clusterIP 'VAR_DNS_SERVER_IP' is not an IP address"],
    "kubernetes-website-docs-snippets/service-md-endpointslice.yaml": [
        "2:7: error: kind: kind EndpointSlice is not supported"],
}
# Never silent (issue 16): what is accepted without effect, or in a removed apiVersion, says so.
_OLD_RS = "1:13: warning: apiVersion: apiVersion apps/v1beta2 of ReplicaSet was removed in " \
    "Kubernetes 1.16 (use apps/v1)"
_TEMPLATE_NAME = "warning: spec.template.metadata.name: field name has no effect here"
_CLAIM_SIZE = "warning: spec.volumeClaimTemplates[0].spec.resources.requests.storage: " \
    "field storage has no effect here"
WARNED: dict[str, list[str]] = {
    "kubernetes-in-action/Chapter04/kubia-replicaset-matchexpressions.yaml": [_OLD_RS],
    "kubernetes-in-action/Chapter04/kubia-replicaset.yaml": [_OLD_RS],
    "kubernetes-in-action/Chapter09/kubia-deployment-v3-with-readinesscheck.yaml": [
        "1:13: warning: apiVersion: apiVersion apps/v1beta1 of Deployment was removed in "
        "Kubernetes 1.16 (use apps/v1)", "15:7: " + _TEMPLATE_NAME],
    "kubernetes-in-action/Chapter09/kubia-rc-and-service-v1.yaml": [
        "9:7: " + _TEMPLATE_NAME,
        "22:9: warning: spec.type: type LoadBalancer is served as NodePort"],
    "kubernetes-in-action/Chapter10/kubia-statefulset.yaml": ["31:11: " + _CLAIM_SIZE],
    "kubernetes-website/application/web/web.yaml": ["46:11: " + _CLAIM_SIZE],
    "kubernetes-website/kyaml/controllers/replication.yaml": ["15:9: " + _TEMPLATE_NAME],
}


def corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*")
                  if p.is_file() and not p.name.endswith(".md"))


def validate(file: str) -> tuple[int, list[str]]:
    done = subprocess.run([str(RECONCILER), "validate", "--no-summary", file], cwd=CORPUS,
                          capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines()


@pytest.fixture(scope="module")
def verdicts() -> dict[str, tuple[int, list[str]]]:
    files = corpus_files()
    if not files:
        pytest.skip("../shared/k8s-corpus/real is absent")
    # Two cores: a few CLI processes at once keep this test to seconds.
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(files, pool.map(validate, files), strict=True))


@pytest.mark.timeout(900)  # about 90 CLI runs, four at a time, on a shared 2-core machine
class TestRealCorpus:
    """Real manifests: accepted, accepted with named warnings, or refused with named reasons."""

    def test_table_names_existing_files(self, verdicts: dict[str, tuple[int, list[str]]]) -> None:
        """Every file the table names is in the corpus (no stale expectations)."""
        assert set(REFUSED) | set(WARNED) <= set(verdicts)

    @pytest.mark.parametrize("file", corpus_files() or ["(corpus absent)"])
    def test_file_verdict(self, verdicts: dict[str, tuple[int, list[str]]], file: str) -> None:
        """Exit code and printed lines match the table for this file."""
        code, lines = verdicts[file]
        if file in REFUSED:
            assert code == 1, lines
            for fragment in REFUSED[file]:
                assert any(line.startswith(file) and fragment in line for line in lines), lines
        else:
            assert code == 0, lines
            expected = WARNED.get(file, [])
            for fragment in expected:
                assert any(fragment in line for line in lines), lines
            assert len(lines) == len(expected), lines
            assert all(": warning: " in line for line in lines), lines


class TestCompatibilityDoc:
    """docs/compatibility.md says what happens to each real manifest today."""

    def test_doc_is_current(self) -> None:
        """The doc is exactly what scripts/compat-table.py --doc prints (else regenerate it)."""
        if not CORPUS.is_dir():
            pytest.skip("../shared/k8s-corpus/real is absent")
        spec = importlib.util.spec_from_file_location("compat_table",
                                                      ROOT / "scripts" / "compat-table.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        expected = module.render(list(module.DEFAULT_FOLDERS), doc=True)
        current = (ROOT / "docs" / "compatibility.md").read_text(encoding="utf-8")
        assert current == expected, (
            "docs/compatibility.md is stale: run "
            "`.venv/bin/python scripts/compat-table.py --doc > docs/compatibility.md`")
