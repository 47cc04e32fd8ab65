"""`make run`'s stage lines (scripts/stage.sh): what runs, how far along, a failure's log."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGE = str(ROOT / "scripts" / "stage.sh")


def stage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STAGE, *args], capture_output=True, text=True, timeout=60,
                          check=False)


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

    def test_makefile_stages(self) -> None:
        """`make -n run` goes through the numbered stages in order."""
        got = subprocess.run(["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, check=False)
        text = got.stdout
        marks = [text.find(f"[{n}/4]") if n == 1 else text.find(f"stage.sh {n} 4")
                 for n in (1, 2, 3, 4)]
        assert all(m >= 0 for m in marks) and marks == sorted(marks), text
