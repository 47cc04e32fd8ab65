"""`make run`'s stage lines (scripts/stage.sh): what runs, how far along, a failure's log."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGE = str(ROOT / "scripts" / "stage.sh")


def stage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STAGE, *args], capture_output=True, text=True, timeout=60,
                          check=False, env=None if env is None else {**os.environ, **env})


def _state(pid: int) -> str:
    """The process's state letter (Z: a zombie, as good as gone), "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


class TestStage:
    def test_success(self) -> None:
        """A stage says what starts (N/TOTAL) and that it is done; the output passes through."""
        got = stage("2", "4", "Docker engine", "--", "echo", "engine answers")
        assert got.returncode == 0
        assert got.stdout == "engine answers\n"
        lines = got.stderr.splitlines()
        assert lines[0] == "==> [2/4] Docker engine"
        assert lines[1].startswith("==> [2/4] Docker engine: done in ")

    def test_failure_names_stage_and_log(self) -> None:
        """A failing stage keeps the command's exit code and names itself and its log."""
        got = stage("4", "4", "demo images", "--log", "/var/cache/x.log", "--",
                    "sh", "-c", "exit 3")
        assert got.returncode == 3
        last = got.stderr.splitlines()[-1]
        assert last.startswith("==> [4/4] demo images FAILED (exit 3 after ")
        assert last.endswith("; read /var/cache/x.log")

    def test_long_stage_says_where_it_is(self) -> None:
        """A stage still running after STAGE_HEARTBEAT seconds names the command it is in."""
        got = stage("3", "4", "base images", "--", "sh", "-c", "sleep 2.5; echo built",
                    env={"STAGE_HEARTBEAT": "1"})
        assert got.returncode == 0 and got.stdout == "built\n"
        beats = [line for line in got.stderr.splitlines() if "still running" in line]
        assert len(beats) >= 1, got.stderr
        assert beats[0].startswith("==> [3/4] base images: still running after ")
        assert beats[0].endswith("in: sleep 2.5 "), beats[0]

    def test_heartbeat_names_the_work_beside_a_sleep(self) -> None:
        """A progress loop's sleep beside the work is passed over for the work itself."""
        script = "timeout 2.5 tail -f /dev/null & sleep 1.5; sleep 1.5"
        got = stage("4", "4", "demo images", "--", "sh", "-c", script,
                    env={"STAGE_HEARTBEAT": "1"})
        beats = [line for line in got.stderr.splitlines() if "still running" in line]
        assert beats and beats[0].endswith("in: tail -f /dev/null "), got.stderr

    def test_hung_stage_times_out(self) -> None:
        """A stage past STAGE_TIMEOUT is stopped and fails, naming itself and its log."""
        got = stage("2", "4", "Docker engine", "--log", "/var/log/dockerd.log", "--",
                    "sleep", "30", env={"STAGE_TIMEOUT": "1"})
        assert got.returncode == 124
        last = got.stderr.splitlines()[-1]
        assert last.startswith("==> [2/4] Docker engine TIMED OUT (stopped after ")
        assert last.endswith("the limit is 1s); read /var/log/dockerd.log")

    def test_interrupt_stops_the_command(self, tmp_path: Path) -> None:
        """An interrupt of the stage (Ctrl-C at a terminal) stops its command's whole tree."""
        pidfile = tmp_path / "pid"
        proc = subprocess.Popen([STAGE, "4", "4", "demo images", "--", "sh", "-c",
                                 f"sleep 60 & echo $! > {pidfile}; wait"],
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sleeper = int(pidfile.read_text())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        deadline = time.monotonic() + 10
        while Path(f"/proc/{sleeper}").exists() and "Z" not in _state(sleeper):
            assert time.monotonic() < deadline, "the stage's command outlived the interrupt"
            time.sleep(0.05)

    def test_stage_reads_no_input(self) -> None:
        """The stage's command reads end of file, never the caller's standard input."""
        got = subprocess.run([STAGE, "1", "1", "reader", "--", "cat"], input="typed\n",
                             capture_output=True, text=True, timeout=60, check=False)
        assert got.returncode == 0 and got.stdout == ""

    def test_makefile_stages(self) -> None:
        """`make -n run` goes through the numbered stages in order."""
        got = subprocess.run(["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, check=False)
        text = got.stdout
        marks = [text.find(f"[{n}/4]") if n == 1 else text.find(f"stage.sh {n} 4")
                 for n in (1, 2, 3, 4)]
        assert all(m >= 0 for m in marks) and marks == sorted(marks), text
