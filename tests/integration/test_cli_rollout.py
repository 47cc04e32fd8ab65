"""`reconciler rollout` as a subprocess: history from git, undo/restart as manifest edits, status.

The git-only tests need no store (a `--state` that does not exist): history is
counted from the manifest's git log as the controller counts revisions, and
undo/restart only edit (and commit) the file. `rollout status` reads a real
SQLite store whose Deployment status is written as the controller writes it.
The same commands against the controller's own ReplicaSets are in
test_cli_rollout_store.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.api.types import Key
from reconciler.cli.rollout_history import Revision
from reconciler.kubeapi.sourcewrite import folder_lock
from reconciler.planning.deployment import pod_template_hash
from tests.unit.test_rollout_edit import DEP

CLI = str(Path(sys.executable).with_name("reconciler"))
IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]


def deployment(image: str, replicas: int = 3) -> str:
    """The Kubernetes website's nginx Deployment, with comments that edits must keep."""
    text = DEP.split("---\n")[0].replace("nginx-deployment", "web")
    return text.replace("nginx:1.14.2", image).replace("replicas: 3", f"replicas: {replicas}")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *IDENTITY, *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def cli(*args: str, ok: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A git repository whose desired/web.yaml went v1 -> v2 -> v3 in three commits."""
    root = tmp_path / "repo"
    desired = root / "desired"
    desired.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for image, subject in (("nginx:1.14.2", "web: first version"),
                           ("nginx:1.16.1", "web: nginx 1.16"),
                           ("nginx:1.25", "web: nginx 1.25")):
        (desired / "web.yaml").write_text(deployment(image))
        git(root, "add", ".")
        git(root, "commit", "-qm", subject)
    # A replicas-only commit: no new revision (the pod template is unchanged).
    (desired / "web.yaml").write_text(deployment("nginx:1.25", 5))
    git(root, "commit", "-qam", "web: 5 replicas")
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@example.invalid")
    yield desired


def no_store(tmp: Path) -> list[str]:
    return ["--state", str(tmp / "absent.db")]


class TestHistoryFromGit:
    def test_revisions_with_commits(self, repo: Path, tmp_path: Path) -> None:
        """One revision per template change, each with the commit that introduced it."""
        out = cli("rollout", "history", "deploy/web", "--desired", str(repo),
                  *no_store(tmp_path)).stdout
        lines = out.splitlines()
        assert lines[0] == "deployment.apps/web"
        assert lines[1].split() == ["REVISION", "REPLICASET", "SOURCE", "CHANGE-CAUSE"]
        shas = git(repo.parent, "log", "--reverse", "--format=%H").split()
        rows = [line.split(None, 3) for line in lines[2:]]
        assert [r[0] for r in rows] == ["1", "2", "3"]
        assert [r[2] for r in rows] == [s[:12] for s in shas[:3]]
        assert [r[3] for r in rows] == ["web: first version", "web: nginx 1.16",
                                        "web: nginx 1.25"]

    def test_one_revision_shows_its_template(self, repo: Path, tmp_path: Path) -> None:
        """--revision=N prints that revision's pod template."""
        out = cli("rollout", "history", "deployment", "web", "--revision=2", "--desired",
                  str(repo), *no_store(tmp_path)).stdout
        assert out.startswith("deployment.apps/web with revision #2\nPod Template:")
        assert "nginx:1.16.1" in out and "nginx:1.25" not in out

    def test_unknown_revision(self, repo: Path, tmp_path: Path) -> None:
        """A revision that does not exist is an error, exit 1."""
        proc = cli("rollout", "history", "deploy/web", "--revision=9", "--desired", str(repo),
                   *no_store(tmp_path), ok=False)
        assert proc.returncode == 1 and "revision 9" in proc.stderr


class TestUndo:
    def test_undo_to_previous_and_commit(self, repo: Path, tmp_path: Path) -> None:
        """undo rewrites the template to the previous revision's, one scalar, and commits it."""
        before = (repo / "web.yaml").read_text()
        out = cli("rollout", "undo", "deploy/web", "--commit", "--desired", str(repo),
                  *no_store(tmp_path)).stdout
        assert out.startswith("deployment.apps/web rolled back (committed ")
        after = (repo / "web.yaml").read_text()
        assert after == before.replace("nginx:1.25  # the tag", "nginx:1.16.1  # the tag")
        subjects = git(repo.parent, "log", "--format=%s").splitlines()
        assert subjects[0].startswith("Roll back deployment web to revision 2 (")
        assert git(repo.parent, "status", "--porcelain") == ""
        # The rolled-back-to template is revision 4 now, as Kubernetes renumbers it.
        out = cli("rollout", "history", "deploy/web", "--desired", str(repo),
                  *no_store(tmp_path)).stdout
        numbers = [line.split()[0] for line in out.splitlines()[2:]]
        assert numbers == ["1", "3", "4"]

    def test_undo_to_revision(self, repo: Path, tmp_path: Path) -> None:
        """--to-revision=1 brings back the first template, hash for hash."""
        cli("rollout", "undo", "deploy/web", "--to-revision=1", "--desired", str(repo),
            *no_store(tmp_path))
        text = (repo / "web.yaml").read_text()
        assert text == deployment("nginx:1.14.2", 5)
        first = git(repo.parent, "show", "HEAD~3:desired/web.yaml")
        from reconciler.cli.rollout_edit import template_of

        key = ("Deployment", "default", "web")
        assert pod_template_hash(template_of(text, *key)) == pod_template_hash(
            template_of(first, *key))

    def test_undo_follows_a_move_made_before_its_lock(
        self, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The Deployment moves to another file between undo's history read and its lock:
        undo finds it again and reads that file's history, and never writes the old path."""
        from click.testing import CliRunner

        from reconciler.cli import rollout

        read = rollout._history
        asked: list[Path | None] = []

        def moving(key: Key, path: Path | None, state: str) -> list[Revision]:
            asked.append(path)
            if len(asked) == 1:
                git(repo.parent, "mv", "desired/web.yaml", "desired/moved.yaml")
                git(repo.parent, "commit", "-qm", "web: moved")
            return read(key, path, state)

        monkeypatch.setattr(rollout, "_history", moving)
        result = CliRunner().invoke(rollout.rollout, [
            "undo", "deploy/web", "--desired", str(repo), *no_store(tmp_path)])
        assert asked == [repo / "web.yaml", repo / "moved.yaml"], result.output
        assert not (repo / "web.yaml").exists()
        # The new file's git log starts at the move: one revision, nothing to go back to.
        assert result.exit_code == 1
        assert 'no rollout history found for deployment "web"' in result.output

    def test_undo_to_current_is_skipped(self, repo: Path, tmp_path: Path) -> None:
        """Undoing to the revision in force changes nothing."""
        proc = cli("rollout", "undo", "deploy/web", "--to-revision=3", "--desired", str(repo),
                   *no_store(tmp_path))
        assert "skipped rollback (current template already matches revision 3)" in proc.stdout
        assert git(repo.parent, "status", "--porcelain") == ""

    def test_missing_deployment(self, repo: Path, tmp_path: Path) -> None:
        """A Deployment the folder does not declare is NotFound, nothing written."""
        proc = cli("rollout", "undo", "deploy/api", "--desired", str(repo), *no_store(tmp_path),
                   ok=False)
        assert proc.returncode == 1 and 'deployments.apps "api" not found' in proc.stderr


class TestRestart:
    def test_restart_sets_the_annotation(self, repo: Path, tmp_path: Path) -> None:
        """restart adds restartedAt to the template's annotations, lines added only, committed."""
        before = (repo / "web.yaml").read_text()
        out = cli("rollout", "restart", "deploy/web", "--commit", "--desired", str(repo)).stdout
        assert out.startswith("deployment.apps/web restarted (committed ")
        after = (repo / "web.yaml").read_text()
        added = [line for line in after.splitlines() if line not in before.splitlines()]
        assert added[0] == "      annotations:"
        assert added[1].startswith("        kubectl.kubernetes.io/restartedAt: '20")
        assert len(added) == 2 and len(after.splitlines()) == len(before.splitlines()) + 2
        assert git(repo.parent, "log", "-1", "--format=%s").strip() == "Restart deployment web"
        # A new template: the history has a fourth revision.
        out = cli("rollout", "history", "deploy/web", "--desired", str(repo),
                  *no_store(tmp_path)).stdout
        assert out.splitlines()[-1].split()[0] == "4"

    def test_restart_of_a_symlinked_manifest(self, repo: Path) -> None:
        """A manifest linked in the folder is edited (and committed) where the link points;
        the link stays a link."""
        (repo / ".shared").mkdir()  # hidden: the loader reads it through the link only
        (repo / "web.yaml").rename(repo / ".shared" / "web.yaml")
        (repo / "web.yaml").symlink_to(Path(".shared") / "web.yaml")
        git(repo.parent, "add", "-A")
        git(repo.parent, "commit", "-qm", "web: linked")
        out = cli("rollout", "restart", "deploy/web", "--commit", "--desired", str(repo)).stdout
        assert out.startswith("deployment.apps/web restarted (committed ")
        assert (repo / "web.yaml").is_symlink()
        assert "restartedAt" in (repo / ".shared" / "web.yaml").read_text()
        assert git(repo.parent, "status", "--porcelain") == ""

    def test_restart_waits_for_the_folder_lock(self, repo: Path) -> None:
        """restart reads and edits the file under the folder's write lock (the API's and
        scale's): while another writer holds it, restart waits, then edits the new text."""
        with folder_lock(repo):
            restart = subprocess.Popen([CLI, "rollout", "restart", "deploy/web", "--desired",
                                        str(repo)], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
            try:
                out, _ = restart.communicate(timeout=3)
            except subprocess.TimeoutExpired:
                pass  # waiting for the lock, as it should
            else:
                raise AssertionError(f"restart did not wait for the lock: {out}")
            text = (repo / "web.yaml").read_text()
            (repo / "web.yaml").write_text(text.replace("replicas: 3", "replicas: 5"))
        out, err = restart.communicate(timeout=60)
        assert restart.returncode == 0, err
        after = (repo / "web.yaml").read_text()
        assert "replicas: 5" in after and "restartedAt" in after, after


def _store_with(tmp: Path, status: dict[str, object], generation_seen: bool = True) -> str:
    """A real store holding the web Deployment (applied from a folder) with `status` written."""
    from tests.integration.control import harness

    c = harness.Cluster(tmp)
    c.write("web.yaml", deployment("nginx:1.25"))
    c.converge(1)
    key = Key("Deployment", "default", "web")
    o = c.store.get_object(key)
    assert o is not None
    full = {"observedGeneration": o.generation if generation_seen else o.generation - 1,
            **status}
    c.store.set_status(key, full)
    c.store.close()
    return c.state


class TestStatus:
    def test_complete(self, tmp_path: Path) -> None:
        """A rolled-out Deployment: kubectl's success line, exit 0."""
        state = _store_with(tmp_path, {"replicas": 3, "updatedReplicas": 3,
                                       "readyReplicas": 3, "availableReplicas": 3})
        out = cli("rollout", "status", "deploy/web", "--state", state).stdout
        assert out == 'deployment "web" successfully rolled out\n'

    def test_deadline_exceeded(self, tmp_path: Path) -> None:
        """Progressing=False ProgressDeadlineExceeded: exit 1 with kubectl's error."""
        state = _store_with(tmp_path, {
            "replicas": 4, "updatedReplicas": 1, "availableReplicas": 3,
            "conditions": [{"type": "Progressing", "status": "False",
                            "reason": "ProgressDeadlineExceeded"}]})
        proc = cli("rollout", "status", "deploy/web", "--state", state, ok=False)
        assert proc.returncode == 1
        assert 'error: deployment "web" exceeded its progress deadline' in proc.stderr

    def test_timeout(self, tmp_path: Path) -> None:
        """A rollout that does not finish: the waiting message, then exit 1 at --timeout."""
        state = _store_with(tmp_path, {"replicas": 4, "updatedReplicas": 3,
                                       "availableReplicas": 1})
        proc = cli("rollout", "status", "deploy/web", "--timeout=2s", "--state", state, ok=False)
        assert proc.returncode == 1
        assert proc.stdout.splitlines() == [
            'Waiting for deployment "web" rollout to finish: 1 old replicas are pending '
            "termination..."]
        assert "timed out waiting for the condition" in proc.stderr

    def test_not_observed_and_no_watch(self, tmp_path: Path) -> None:
        """A generation the controller has not seen yet; --watch=false prints once, exit 0."""
        state = _store_with(tmp_path, {}, generation_seen=False)
        out = cli("rollout", "status", "deploy/web", "--no-watch", "--state", state).stdout
        assert out == "Waiting for deployment spec update to be observed...\n"
