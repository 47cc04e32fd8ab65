"""`reconciler logs` (--since, --timestamps, -l, --all-containers, --prefix) and `reconciler top`,
run as a user runs them against a real store and the real engine."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.runtime.types import PodSync
from reconciler.store import Store
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod, node

pytestmark = pytest.mark.docker

CLI = str(Path(sys.executable).with_name("reconciler"))


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == code, proc.stderr
    return proc


def both_running(result: PodSync) -> bool:
    return result.phase == "Running" and len(result.containers) == 2 and all(
        c.state == "running" for c in result.containers)


@pytest.fixture
def talking(harness: Harness, tmp_path: Path) -> tuple[str, str]:
    """Two running pods labelled app=<unique>, two containers each, recorded in a store."""
    app = f"talk{uuid.uuid4().hex[:6]}"
    state = str(tmp_path / "state.db")
    with Store.open(state) as store:
        store.upsert_node(node())
        for i in (1, 2):
            pod = make_pod(f"{app}-{i}", {"containers": [
                {"name": "main", "image": BUSYBOX,
                 "command": ["sh", "-c", f"echo main{i}; echo more{i}; sleep 3600"]},
                {"name": "side", "image": BUSYBOX,
                 "command": ["sh", "-c", f"echo side{i}; sleep 3600"]}]}, labels={"app": app})
            harness.converge(pod, both_running, timeout=60)
            store.upsert_pod(replace(pod, node_name="local", phase="Running"))
    return app, state


def wait_for_output(args: list[str], expected: str) -> str:
    """The command's stdout once it holds `expected` (a container may not have written yet)."""
    for _ in range(60):
        out = cli(*args).stdout
        if expected in out:
            return out
        subprocess.run(["sleep", "0.5"], check=True)
    raise AssertionError(f"{expected!r} never in {args}: {out!r}")


class TestLogsFlags:
    def test_selector_all_containers_prefix(self, talking: tuple[str, str]) -> None:
        """-l with --all-containers --prefix prints every container of every matching pod."""
        app, state = talking
        out = wait_for_output(["logs", "-l", f"app={app}", "--all-containers", "--prefix",
                               "--state", state], f"[pod/{app}-2/side] side2")
        for i in (1, 2):
            assert f"[pod/{app}-{i}/main] main{i}\n" in out
            assert f"[pod/{app}-{i}/main] more{i}\n" in out
            assert f"[pod/{app}-{i}/side] side{i}\n" in out

    def test_selector_default_container(self, talking: tuple[str, str]) -> None:
        """-l alone prints each pod's first container, without the "Defaulted" note."""
        app, state = talking
        got = cli("logs", "-l", f"app={app}", "--state", state)
        assert sorted(got.stdout.split()) == ["main1", "main2", "more1", "more2"]
        assert "Defaulted" not in got.stderr

    def test_timestamps_and_since(self, talking: tuple[str, str]) -> None:
        """--timestamps prefixes RFC3339 times; --since 1h keeps them, a future start drops all."""
        app, state = talking
        out = cli("logs", f"{app}-1", "--timestamps", "--since", "1h", "--state", state).stdout
        lines = out.splitlines()
        assert [ln.split(" ", 1)[1] for ln in lines] == ["main1", "more1"]
        stamp = datetime.fromisoformat(lines[0].split(" ", 1)[0][:26] + "+00:00")
        assert abs((datetime.now(UTC) - stamp).total_seconds()) < 3600
        # Lines written before `since` are not shown: once a second has passed since the
        # container wrote (Docker's since is whole seconds), --since 0s shows nothing.
        for _ in range(60):
            if cli("logs", f"{app}-1", "--since", "0s", "--state", state).stdout == "":
                break
            subprocess.run(["sleep", "0.5"], check=True)
        else:
            raise AssertionError("--since 0s still shows the lines written at start")

    def test_pod_and_selector_exclusive(self, talking: tuple[str, str]) -> None:
        """POD and -l together are a usage error (2); -f over more streams than
        --max-log-requests is refused (1), naming the limit."""
        app, state = talking
        cli("logs", f"{app}-1", "-l", f"app={app}", "--state", state, code=2)
        got = cli("logs", "-l", f"app={app}", "-f", "--max-log-requests", "1", "--state", state,
                  code=1)
        assert "follow 2 log streams" in got.stderr and "--max-log-requests" in got.stderr


USAGE = re.compile(r"^\d+m$"), re.compile(r"^\d+Mi$")


class TestTop:
    def test_top_pods(self, talking: tuple[str, str]) -> None:
        """top pods prints NAME CPU(cores) MEMORY(bytes) for each running pod, from docker stats."""
        app, state = talking
        lines = cli("top", "pods", "-l", f"app={app}", "--state", state).stdout.splitlines()
        assert lines[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
        rows = [ln.split() for ln in lines[1:]]
        assert [r[0] for r in rows] == [f"{app}-1", f"{app}-2"]
        for r in rows:
            assert USAGE[0].match(r[1]) and USAGE[1].match(r[2]), r

    def test_top_nodes(self, talking: tuple[str, str]) -> None:
        """top nodes prints the pods' usage per node, with percentages of its capacity."""
        _, state = talking
        lines = cli("top", "nodes", "--state", state).stdout.splitlines()
        assert lines[0].split() == ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]
        row = lines[1].split()
        assert row[0] == "local" and USAGE[0].match(row[1]) and USAGE[1].match(row[3])
