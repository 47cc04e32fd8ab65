"""End to end: `reconciler run` at a terminal shows the first convergence's progress (issue 21);
with its output in a file (journald, a log) it prints no progress lines."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.process_helpers import rc_yaml
from tests.e2e.service import RECONCILER, ServiceRun

pytestmark = [pytest.mark.docker]


def read_until(fd: int, marker: str, timeout: float) -> str:
    """What the terminal shows until `marker` appears (or the time is up)."""
    text = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in text and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the service closed the terminal (it exited)
                break
            if not chunk:
                break
            text += chunk
    return text.decode(errors="replace")


class TestRunProgress:
    @pytest.mark.timeout(180)
    def test_terminal_shows_progress(self, svc_factory: list[ServiceRun], tmp_path: Path) -> None:
        """On a pty: `converging: R/W pods running, C created, N to create`, then `converged`."""
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
        svc_factory.append(run)
        run.write("rc.yaml", rc_yaml("web", 3))
        master, slave = os.openpty()
        try:
            run.proc = subprocess.Popen(
                [RECONCILER, "run", "--desired", str(run.desired), "--state", str(run.state),
                 *run.args], stdin=slave, stdout=slave, stderr=slave, env=run.env,
                cwd=tmp_path)
            os.close(slave)
            shown = read_until(master, "converged: 3/3 pods running", 150)
        finally:
            run.stop()
            os.close(master)
        assert "converged: 3/3 pods running" in shown, shown
        progress = [ln for ln in shown.splitlines() if ln.startswith("converging: ")]
        for line in progress:
            assert line.split()[1].endswith("/3"), line
        print("\nterminal:", *progress, *[ln for ln in shown.splitlines() if "converged" in ln],
              sep="\n  ")

    @pytest.mark.timeout(180)
    def test_no_progress_into_a_file(self, svc_factory: list[ServiceRun], tmp_path: Path) -> None:
        """With stderr in a file the same start prints no progress lines."""
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
        svc_factory.append(run)
        run.write("rc.yaml", rc_yaml("web", 2))
        run.start()
        deadline = time.monotonic() + 120
        while len(run.running()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(run.running()) == 2
        run.stop()
        out = run.output()
        assert "converging: " not in out and "converged: " not in out
