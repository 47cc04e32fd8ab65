"""`reconciler validate PATH...` as users and pre-commit run it: exit codes and printed lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RECONCILER = Path(sys.executable).with_name("reconciler")
GOOD = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: web:1
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RECONCILER), "validate", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


class TestValidateCommand:
    """Exit 0 when valid (warnings allowed), 1 on any error; FILE:LINE:COL lines."""

    def test_valid_folder_exits_zero(self, tmp_path: Path) -> None:
        """A valid folder prints nothing on stdout and exits 0."""
        (tmp_path / "desired").mkdir()
        (tmp_path / "desired" / "pod.yaml").write_text(GOOD)
        done = run(tmp_path, "desired")
        assert (done.returncode, done.stdout) == (0, "")
        assert "1 object(s) valid" in done.stderr

    def test_error_exits_one_with_position(self, tmp_path: Path) -> None:
        """An error prints FILE:LINE:COL: error: PATH: MESSAGE and exits 1."""
        typo = GOOD.replace("image: web:1", "image: web:1\n    prots: []")
        (tmp_path / "pod.yaml").write_text(typo)
        done = run(tmp_path, "pod.yaml")
        assert done.returncode == 1
        assert done.stdout == ("pod.yaml:9:5: error: spec.containers[0].prots: unknown field "
                               "'prots' (did you mean 'ports'?)\n")

    def test_invalid_node_affinity_names_file_line_and_field(self, tmp_path: Path) -> None:
        """A nodeAffinity requirement that would match no node is an error at its line."""
        affinity = ("spec:\n  affinity:\n    nodeAffinity:\n"
                    "      requiredDuringSchedulingIgnoredDuringExecution:\n"
                    "        nodeSelectorTerms:\n        - matchExpressions:\n"
                    "          - {key: disk, operator: In}\n")
        (tmp_path / "pod.yaml").write_text(GOOD.replace("spec:\n", affinity))
        done = run(tmp_path, "pod.yaml")
        assert done.returncode == 1
        assert done.stdout == (
            "pod.yaml:11:13: error: spec.affinity.nodeAffinity."
            "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
            "matchExpressions[0].values: Required value: must be specified when `operator` "
            "is 'In' or 'NotIn'\n")

    def test_warnings_exit_zero_and_quiet_hides_them(self, tmp_path: Path) -> None:
        """Warnings keep exit 0; --quiet hides them."""
        (tmp_path / "pod.yaml").write_text(GOOD.replace("spec:\n", "spec:\n  overhead: {}\n"))
        done = run(tmp_path, "pod.yaml")
        assert done.returncode == 0
        assert done.stdout == ("pod.yaml:6:3: warning: spec.overhead: "
                               "field overhead has no effect here: not supported, ignored\n")
        quiet = run(tmp_path, "--quiet", "pod.yaml")
        assert (quiet.returncode, quiet.stdout) == (0, "")

    def test_default_is_the_desired_folder(self, tmp_path: Path) -> None:
        """With no PATH, --desired (or RECONCILER_DESIRED) is validated."""
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "bad.yaml").write_text("kind: [\n")
        done = run(tmp_path, "--desired", "elsewhere")
        assert done.returncode == 1
        assert done.stdout.startswith("elsewhere/bad.yaml:")

    def test_bad_input_never_prints_a_traceback(self, tmp_path: Path) -> None:
        """Binary, bomb and broken files give diagnostics, not a traceback."""
        (tmp_path / "bin.yaml").write_bytes(b"\x00\x01\x02")
        (tmp_path / "broken.json").write_text("{")
        (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
        done = run(tmp_path, ".")
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert sorted(line.split(":")[0] for line in done.stdout.splitlines()) == [
            "bin.yaml", "broken.json", "deep.yaml"]
