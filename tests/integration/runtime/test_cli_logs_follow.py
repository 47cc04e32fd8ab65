"""`reconciler logs -f` over several streams (--all-containers, -l): every stream followed at
once, each line prefixed, run as a user runs it against a real store and the real engine."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from reconciler.runtime.access import PodAccess
from reconciler.runtime.types import PodSync
from reconciler.store import Store
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod, node

pytestmark = pytest.mark.docker

CLI = str(Path(sys.executable).with_name("reconciler"))


def speaker(word: str) -> list[str]:
    """Says first-WORD, then last-WORD when stopped (SIGTERM), and ends."""
    return ["sh", "-c", f"echo first-{word}; trap 'echo last-{word}; exit 0' TERM; "
            "while :; do sleep 1 & wait $!; done"]


def both_running(result: PodSync) -> bool:
    return result.phase == "Running" and len(result.containers) == 2 and all(
        c.state == "running" for c in result.containers)


class Reader:
    """Collects a process's stdout lines from a thread, so a test can wait on them."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._out = proc.stdout
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self._out:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, wanted: set[str], proc: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 60
        while not wanted <= set(self.lines):
            assert proc.poll() is None, f"logs -f ended early: {self.lines}"
            assert time.monotonic() < deadline, f"{wanted} never all in {self.lines}"
            time.sleep(0.2)


class TestLogsFollowSeveral:
    def test_all_containers_followed_at_once(self, harness: Harness, tmp_path: Path,
                                             docker_client: docker.DockerClient) -> None:
        """-f --all-containers prints both containers' lines, prefixed, and ends when both do."""
        name = f"follow{uuid.uuid4().hex[:6]}"
        state = str(tmp_path / "state.db")
        pod = make_pod(name, {"restartPolicy": "Never", "terminationGracePeriodSeconds": 5,
                              "containers": [{"name": "a", "image": BUSYBOX,
                                              "command": speaker("a")},
                                             {"name": "b", "image": BUSYBOX,
                                              "command": speaker("b")}]})
        harness.converge(pod, both_running, timeout=60)
        with Store.open(state) as store:
            store.upsert_node(node())
            store.upsert_pod(replace(pod, node_name="local", phase="Running"))
        proc = subprocess.Popen([CLI, "logs", name, "-f", "--all-containers", "--state", state],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            reader = Reader(proc)
            # Both first lines while both containers still run: neither stream waits on the
            # other's end, as one-after-the-other following would.
            reader.wait_for({f"[pod/{name}/a] first-a", f"[pod/{name}/b] first-b"}, proc)
            access = PodAccess(harness.agent.engine)
            for c in ("a", "b"):
                docker_client.containers.get(access.container_id(pod.uid, c)).kill("SIGTERM")
            assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
            reader.thread.join(timeout=30)  # it ends with the pipe
            lines = reader.lines
            assert f"[pod/{name}/a] last-a" in lines and f"[pod/{name}/b] last-b" in lines
            assert len(lines) == 4, lines
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


class TestOpenLogs:
    def test_close_ends_a_follow(self, harness: Harness) -> None:
        """`open_logs`' close ends a follow's blocking read while the container still runs
        (the API closes it when its client leaves): the reading thread returns."""
        name = f"openlogs{uuid.uuid4().hex[:6]}"
        pod = make_pod(name, {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                              "containers": [{"name": "a", "image": BUSYBOX,
                                              "command": speaker("a")}]})
        harness.converge(pod, lambda r: r.phase == "Running", timeout=60)
        chunks, close = PodAccess(harness.agent.engine).open_logs(pod.uid, "a", follow=True)
        assert b"first-a" in next(chunks)
        rest: list[bytes] = []
        reader = threading.Thread(target=lambda: rest.extend(chunks), daemon=True)
        reader.start()
        close()
        reader.join(timeout=30)
        assert not reader.is_alive()
        assert b"last-a" not in b"".join(rest)
