"""`reconciler validate` over the real-world manifests in ../shared/k8s-corpus/real/, file by file.

Each file is validated alone (the corpus declares the same names in several
files on purpose) by the real CLI in a subprocess, and its verdict is compared
with the table below: accepted, accepted with named warnings, or refused with
named reasons. Skipped when the corpus is absent.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "k8s-corpus" / "real"
RECONCILER = Path(sys.executable).with_name("reconciler")

# file -> (exit code, fragments that must appear, each on a line of that severity)
REFUSED: dict[str, list[str]] = {
    "kubernetes-examples/head/_archived/sysdig-cloud/sysdig-rc.yaml": [
        "33:7: error: spec.template.spec.hostNetwork: hostNetwork is not supported",
        "34:7: error: spec.template.spec.hostPID: hostPID is not supported",
        "42:10: error: spec.template.spec.containers[0].securityContext.privileged: "
        "privileged containers are not supported",
    ],
    "kubernetes-kubernetes/cluster/addons/dns/kubedns-svc.yaml.sed": [
        "31:14: error: spec.clusterIP: clusterIP 'VAR_DNS_SERVER_IP' is not an IP address"],
    "kubernetes-website-docs-snippets/service-md-endpointslice.yaml": [
        "2:7: error: kind: kind EndpointSlice is not supported"],
}
WARNED: dict[str, list[str]] = {
    "kubernetes-in-action/Chapter09/kubia-rc-and-service-v1.yaml": [
        "22:9: warning: spec.type: type LoadBalancer is served as NodePort"],
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
