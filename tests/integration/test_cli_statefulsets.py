"""`get statefulsets` and `describe statefulset` run as subprocesses on a converged store.

The store is filled by the real controllers over FakeHosts (the Cluster of
tests/integration/control/test_statefulsets.py), so the CLI reads exactly what
the service writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.control.test_statefulsets import NODES, Cluster, web

CLI = str(Path(sys.executable).with_name("reconciler"))


def run(*args: str, state: Path) -> str:
    proc = subprocess.run([CLI, *args, "--state", str(state)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("sts-cli")
    c = Cluster(tmp)
    (c.desired / "nodes.yaml").write_text(NODES)
    c.write("web.yaml", web(2))
    c.converge(3)
    c.store.close()
    yield tmp / "state.db"


class TestGetStatefulSets:
    def test_table(self, state: Path) -> None:
        """NAME READY AGE, as kubectl prints it; `sts` is the alias."""
        lines = run("get", "sts", state=state).splitlines()
        assert lines[0].split() == ["NAME", "READY", "AGE"]
        assert lines[1].split()[:2] == ["web", "2/2"]
        # Without AGE: the two runs may fall on either side of a second.
        def cells(text: str) -> list[list[str]]:
            return [line.split()[:-1] for line in text.splitlines()]

        long = run("get", "statefulsets", state=state)
        assert cells(long) == cells(run("get", "sts", state=state))

    def test_wide(self, state: Path) -> None:
        """-o wide adds CONTAINERS and IMAGES."""
        lines = run("get", "sts", "-o", "wide", state=state).splitlines()
        assert lines[0].split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
        assert lines[1].split()[-2:] == ["nginx", "reconciler/nginx-slim:1"]

    def test_json(self, state: Path) -> None:
        """-o json is the apps/v1 object with Kubernetes' status fields."""
        out = json.loads(run("get", "sts", "web", "-o", "json", state=state))
        assert (out["apiVersion"], out["kind"]) == ("apps/v1", "StatefulSet")
        status = out["status"]
        assert status["replicas"] == 2 and status["readyReplicas"] == 2
        assert status["currentRevision"] == status["updateRevision"]

    def test_yaml(self, state: Path) -> None:
        """-o yaml names the spec's serviceName and the update revision."""
        out = run("get", "statefulset", "web", "-o", "yaml", state=state)
        assert "serviceName: nginx" in out and "updateRevision: web-" in out


class TestDescribeStatefulSet:
    def test_layout(self, state: Path) -> None:
        """kubectl's fields in kubectl's order, with claims and events."""
        out = run("describe", "sts", "web", state=state)
        keys = [line.split(":")[0] for line in out.splitlines()
                if line and not line.startswith(" ")]
        assert keys == ["Name", "Namespace", "CreationTimestamp", "Selector", "Labels",
                        "Annotations", "Replicas", "Update Strategy", "Pods Status",
                        "Pod Template", "Volume Claims", "Events"]
        assert "Replicas:           2 desired | 2 total" in out
        assert "Pods Status:        2 Running / 0 Waiting / 0 Succeeded / 0 Failed" in out
        assert "  Partition:        0" in out
        assert "/usr/share/nginx/html from www (rw)" in out
        assert "Capacity:      1Gi" in out and "Access Modes:  [ReadWriteOnce]" in out
        assert "create Pod web-1 in StatefulSet web successful" in out

    def test_not_found(self, state: Path) -> None:
        """An unknown set: kubectl's NotFound message and exit code 1."""
        proc = subprocess.run([CLI, "describe", "sts", "nope", "--state", str(state)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 1
        assert 'statefulsets "nope" not found' in proc.stderr


class TestDescribeMember:
    def test_volumes(self, state: Path) -> None:
        """describe pod web-1: its claim under Volumes, its mount under the container's Mounts."""
        out = run("describe", "pod", "web-1", state=state)
        volumes = out.split("\nVolumes:\n", 1)[1].split("\nNode-Selectors:", 1)[0]
        assert [" ".join(line.split()) for line in volumes.splitlines()] == [
            "www:",
            "Type: PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same "
            "namespace)",
            "ClaimName: www-web-1",
            "ReadOnly: false",
        ]
        assert "StatefulSet/web" in out
        assert "/usr/share/nginx/html from www (rw)" in out  # the container's Mounts


class TestDeleteClaim:
    def test_marks_the_claim(self, state: Path, tmp_path: Path) -> None:
        """delete pvc marks the claim (Terminating in get pvc); an unknown one is NotFound."""
        copy = tmp_path / "state.db"
        shutil.copy(state, copy)
        assert run("delete", "pvc", "www-web-1", state=copy) == \
            'persistentvolumeclaim "www-web-1" deleted\n'
        rows = {line.split()[0]: line.split()[1]
                for line in run("get", "pvc", state=copy).splitlines()[1:]}
        assert rows == {"www-web-0": "Bound", "www-web-1": "Terminating"}
        proc = subprocess.run([CLI, "delete", "pvc", "nope", "--state", str(copy)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 1
        assert 'persistentvolumeclaims "nope" not found' in proc.stderr
