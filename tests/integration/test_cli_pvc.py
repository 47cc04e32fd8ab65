"""`reconciler get pvc` run as a subprocess against a store with claims on a real SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.api.records import ClaimRecord, OwnerRef
from reconciler.store import Store

CLI = str(Path(sys.executable).with_name("reconciler"))
WEB = OwnerRef("StatefulSet", "web", "sts-1", "apps/v1")


def run(*args: str, state: Path, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [CLI, *args, "--state", str(state)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == code, proc.stderr
    return proc


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pvc") / "state.db"
    store = Store.open(str(path))
    # Hours old: "9h" holds for an hour ("5m" became "5m1s" a second later on a loaded machine).
    made = datetime.now(UTC) - timedelta(hours=9)

    def claim(name: str, namespace: str = "default") -> ClaimRecord:
        return ClaimRecord(namespace, name, "", WEB, storage="1Gi",
                           access_modes=["ReadWriteOnce"], labels={"app": "nginx"},
                           created_at=made)

    store.ensure_claims([claim("www-web-0"), claim("www-web-1"), claim("www-web-0", "shop")])
    store.bind_claim("default", "www-web-0", "local")
    store.bind_claim("shop", "www-web-0", "hostb")
    store.close()
    return path


class TestGetClaims:
    def test_table(self, state: Path) -> None:
        """get pvc prints kubectl's columns: Bound with volume, size and RWO; Pending blank."""
        lines = run("get", "pvc", state=state).stdout.splitlines()
        assert lines[0].split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES",
                                    "STORAGECLASS", "AGE"]
        assert lines[1].split() == ["www-web-0", "Bound", "www-web-0", "1Gi", "RWO", "local",
                                    "9h"]
        assert lines[2].split() == ["www-web-1", "Pending", "local", "9h"]
        assert len(lines) == 3

    def test_long_name_all_namespaces(self, state: Path) -> None:
        """persistentvolumeclaims -A lists every namespace; the volume name carries it."""
        lines = run("get", "persistentvolumeclaims", "-A", state=state).stdout.splitlines()
        assert lines[0].split()[0] == "NAMESPACE"
        assert lines[3].split()[:4] == ["shop", "www-web-0", "Bound", "www-web-0.shop"]

    def test_json(self, state: Path) -> None:
        """-o json of one claim is a v1 PersistentVolumeClaim with its node annotated."""
        doc = json.loads(run("get", "pvc", "www-web-0", "-o", "json", state=state).stdout)
        assert (doc["apiVersion"], doc["kind"]) == ("v1", "PersistentVolumeClaim")
        assert doc["metadata"]["annotations"] == {"volume.kubernetes.io/selected-node": "local"}
        assert doc["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
        assert doc["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
        assert doc["spec"]["volumeName"] == "www-web-0"
        assert doc["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                 "capacity": {"storage": "1Gi"}}

    def test_not_found_and_selector(self, state: Path) -> None:
        """A missing claim is NotFound; -l filters claims by label."""
        proc = run("get", "pvc", "nope", state=state, code=1)
        assert "persistentvolumeclaims \"nope\" not found" in proc.stderr
        empty = run("get", "pvc", "-l", "app=other", state=state)
        assert empty.stdout == ""
        assert empty.stderr.strip() == "No resources found in default namespace."
