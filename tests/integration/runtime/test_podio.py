"""`reconciler logs` and `reconciler exec` as a user runs them, against a real store and engine."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.runtime.types import PodSync
from reconciler.store import Store
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod, node

pytestmark = pytest.mark.docker


def running(result: PodSync) -> bool:
    return result.phase == "Running" and all(c.state == "running" for c in result.containers)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from reconciler.cli.main import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60, check=False)


class TestPodIO:
    def test_logs_and_exec_through_the_store(self, harness: Harness, tmp_path: Path) -> None:
        """logs (--tail, -c, --previous) and exec find the pod through the store's node."""
        pod = make_pod("talk", {"containers": [
            {"name": "main", "image": BUSYBOX,
             "command": ["sh", "-c", "echo one; echo two; echo three; sleep 3600"]},
            {"name": "side", "image": BUSYBOX, "command": ["sh", "-c", "echo side; exit 1"]}]})
        # `side` exits at once: it is running only for an instant, so wait for its restart.
        harness.converge(pod, lambda r: r.phase == "Running" and r.containers[1].restart_count >= 1
                         and r.containers[0].state == "running", timeout=20)
        state = str(tmp_path / "state.db")
        with Store.open(state) as store:
            store.upsert_node(node())
            store.upsert_pod(replace(pod, node_name="local"))
        got = cli("logs", "talk", "--tail", "2", "--state", state)
        assert got.returncode == 0, got.stderr
        assert got.stdout.split() == ["two", "three"]
        assert 'Defaulted container "main"' in got.stderr
        got = cli("logs", "talk", "-c", "side", "--previous", "--state", state)
        assert (got.returncode, got.stdout) == (0, "side\n")
        got = cli("exec", "talk", "--state", state, "--", "sh", "-c", "hostname; exit 7")
        assert (got.returncode, got.stdout) == (7, "talk\n")
        got = cli("logs", "nope", "--state", state)
        assert got.returncode == 1 and 'pods "nope" not found' in got.stderr

    def test_without_a_store_the_local_engine_is_searched(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        """With no state file, the pod is found by its name and namespace labels."""
        pod = make_pod("bare", {"containers": [
            {"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "echo hello; sleep 3600"]}]})
        harness.converge(pod, running)
        got = cli("exec", "bare", "--state", str(tmp_path / "none.db"), "--", "echo", "hi")
        assert (got.returncode, got.stdout) == (0, "hi\n"), got.stderr
        assert not (tmp_path / "none.db").exists()
