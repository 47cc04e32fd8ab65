"""`reconciler scale` as a subprocess: the manifest edited in place, and committed with --commit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reconciler.api.manifest_edit import set_spec_value
from reconciler.kubeapi.sourcewrite import Change, FolderWriter

RECONCILER = str(Path(sys.executable).with_name("reconciler"))

RC = """\
# web tier
apiVersion: v1
kind: ReplicationController
metadata:
  name: web     # the seed's RC
spec:
  replicas: 2   # scaled by hand
  template:
    metadata:
      labels: {name: web}
    spec:
      containers: [{name: web, image: "janakiramm/web:latest"}]
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


class TestScaleCommand:
    def test_edits_only_the_replicas_and_commits(self, tmp_path: Path) -> None:
        """Every other byte is kept; --commit makes one commit of that file."""
        repo = tmp_path / "repo"
        desired = repo / "apps"
        desired.mkdir(parents=True)
        (desired / "web-rc.yaml").write_text(RC)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", ".")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid",
            "commit", "-qm", "initial")
        subprocess.run(["git", "config", "user.name", "t"], cwd=repo, check=True)
        subprocess.run(["git", "config", "user.email", "t@example.invalid"], cwd=repo, check=True)

        run = subprocess.run([RECONCILER, "scale", "rc", "web", "--replicas=10", "--commit",
                              "--desired", str(desired)], capture_output=True, text=True,
                             check=False)
        assert run.returncode == 0, run.stderr
        assert "replicationcontroller/web scaled (committed" in run.stdout
        assert (desired / "web-rc.yaml").read_text() == RC.replace(
            "replicas: 2   #", "replicas: 10   #")
        log = git(repo, "log", "--format=%s").splitlines()
        assert log == ["Scale replicationcontroller web to 10 replicas", "initial"]
        assert git(repo, "status", "--porcelain") == ""

    def test_a_symlinked_manifest_is_written_where_it_points(self, tmp_path: Path) -> None:
        """The file a symlink in the folder points to is edited; the link stays a link."""
        (tmp_path / ".shared").mkdir()  # hidden: the loader reads it through the link only
        (tmp_path / ".shared" / "web-rc.yaml").write_text(RC)
        (tmp_path / "web-rc.yaml").symlink_to(Path(".shared") / "web-rc.yaml")
        run = subprocess.run([RECONCILER, "scale", "rc", "web", "--replicas=4",
                              "--desired", str(tmp_path)], capture_output=True, text=True,
                             check=False)
        assert run.returncode == 0, run.stderr
        assert (tmp_path / "web-rc.yaml").is_symlink()
        assert (tmp_path / ".shared" / "web-rc.yaml").read_text() == RC.replace(
            "replicas: 2   #", "replicas: 4   #")

    def test_unknown_object_is_an_error(self, tmp_path: Path) -> None:
        """Scaling what the folder does not declare changes nothing and exits 1."""
        (tmp_path / "web-rc.yaml").write_text(RC)
        run = subprocess.run([RECONCILER, "scale", "rc", "api", "--replicas=3",
                              "--desired", str(tmp_path)], capture_output=True, text=True,
                             check=False)
        assert run.returncode == 1 and 'replicationcontrollers "api" not found' in run.stderr
        assert (tmp_path / "web-rc.yaml").read_text() == RC


class TestSharedWriteLock:
    def test_scale_waits_for_an_api_write(self, tmp_path: Path) -> None:
        """`reconciler scale` waits while the API's writer holds the folder, then starts
        from the API's text: both changes are in the file, neither is lost."""
        (tmp_path / "web-rc.yaml").write_text(RC)
        with FolderWriter(tmp_path).session() as s:
            text = s.read("web-rc.yaml")
            assert text is not None
            scaling = subprocess.Popen([RECONCILER, "scale", "rc", "web", "--replicas=7",
                                        "--desired", str(tmp_path)], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
            try:
                out, _ = scaling.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                pass  # waiting for the lock, as it should
            else:
                raise AssertionError(f"scale did not wait for the API's write: {out}")
            s.write([Change("web-rc.yaml", set_spec_value(
                text, "ReplicationController", "default", "web", "minReadySeconds", "5"))],
                "an API write")
        out, err = scaling.communicate(timeout=30)
        assert scaling.returncode == 0, err
        written = (tmp_path / "web-rc.yaml").read_text()
        assert "replicas: 7   #" in written and "minReadySeconds: 5" in written, written
