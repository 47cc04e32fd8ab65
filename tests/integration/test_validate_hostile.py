"""`reconciler validate` on hostile input, as a subprocess: special files, one pipe, a real store.

The CLI as users run it: a fifo and /dev/zero in what it is asked to read must
not hang it or exhaust memory; with stdout and stderr on one pipe the summary
is a line of its own; a nodeSelector is checked against the nodes of a real
SQLite store when one is there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from reconciler.api.records import NodeRecord
from reconciler.store.store import Store

RECONCILER = Path(sys.executable).with_name("reconciler")
POD = """apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  nodeSelector: {disk: ssd}
  containers: [{name: app, image: busybox}]
"""


def run(cwd: Path, *args: str, merged: bool = False) -> subprocess.CompletedProcess[str]:
    # Generous: a loaded shared machine; a hang would be a test timeout, not a pass.
    return subprocess.run([str(RECONCILER), "validate", *args], cwd=cwd, text=True,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          timeout=120, check=False, env={**os.environ, "RECONCILER_CONFIG": ""})


class TestSpecialFiles:
    """Fifos and devices are skipped by the real CLI, which returns."""

    def test_fifo_and_dev_zero(self, tmp_path: Path) -> None:
        """A fifo in the folder, /dev/zero named and symlinked: warnings, exit 0, no hang."""
        folder = tmp_path / "desired"
        folder.mkdir()
        os.mkfifo(folder / "pipe.yaml")
        (folder / "pod.yaml").write_text(POD % "a")
        (tmp_path / "zero.yaml").symlink_to("/dev/zero")
        done = run(tmp_path, "desired", "zero.yaml", "/dev/zero")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "desired/pipe.yaml:1:1: warning: skipped: a named pipe (fifo), not a regular " \
            "file (only regular files are read)" in lines
        assert sum("a character device" in line for line in lines) == 2, lines
        assert "1 object(s) valid, 3 warning(s)" in done.stderr


class TestOnePipe:
    """stdout and stderr on one pipe: every line whole, the summary last and alone."""

    def test_summary_on_its_own_line(self, tmp_path: Path) -> None:
        """Many error lines then the summary: no line holds both."""
        for i in range(50):
            (tmp_path / f"p{i}.yaml").write_text((POD % f"p{i}").replace("disk: ssd", "Bad Key: x"))
        (tmp_path / "bad.yaml").write_text("kind: [\n")
        done = run(tmp_path, ".", merged=True)
        lines = done.stdout.splitlines()
        assert done.returncode == 1
        assert lines[-1].startswith("0 object(s) valid, "), lines[-3:]
        assert all(": error: " in line or ": warning: " in line for line in lines[:-1]), lines


class TestRegisteredNodes:
    """A nodeSelector no registered node satisfies warns, reading a real store."""

    def test_store_nodes(self, tmp_path: Path) -> None:
        """Without a store no check; with one whose node lacks the label, a warning; with the
        label, none."""
        (tmp_path / "pod.yaml").write_text(POD % "a")
        state = tmp_path / "state.db"
        assert run(tmp_path, "--state", str(state), "pod.yaml").stdout == ""
        store = Store.open(str(state))
        try:
            store.upsert_node(NodeRecord("hdd-host", "unix:///var/run/docker.sock",
                                         datetime.now(UTC), labels={"disk": "hdd"}))
            done = run(tmp_path, "--state", str(state), "pod.yaml")
            assert done.stdout == ("pod.yaml:5:3: warning: spec.nodeSelector: no node satisfies "
                                   "the nodeSelector (1 registered or declared): the pods stay "
                                   "Pending\n"), done.stdout
            store.upsert_node(NodeRecord("ssd-host", "unix:///var/run/docker.sock",
                                         datetime.now(UTC), labels={"disk": "ssd"}))
            assert run(tmp_path, "--state", str(state), "pod.yaml").stdout == ""
        finally:
            store.close()
        assert not (tmp_path / "missing.db").exists()
        run(tmp_path, "--state", str(tmp_path / "missing.db"), "pod.yaml")
        assert not (tmp_path / "missing.db").exists(), "validate must not create a store"
