"""GitSource against real local repositories: clone, snapshots, force pushes, locks, credentials."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from reconciler.sources.git import GitError, GitSource, Revision

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ann Author",
    "GIT_AUTHOR_EMAIL": "ann@example.invalid",
    "GIT_COMMITTER_NAME": "Ann Author",
    "GIT_COMMITTER_EMAIL": "ann@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


class Upstream:
    """A bare repository and a working clone that commits and pushes to it."""

    def __init__(self, tmp: Path) -> None:
        self.bare = tmp / "desired.git"
        self.work = tmp / "work"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(tmp, "clone", "-q", str(self.bare), str(self.work))
        git(self.work, "checkout", "-q", "-b", "main")

    def commit(self, files: dict[str, str], subject: str) -> str:
        for name, text in files.items():
            (self.work / name).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", subject)
        git(self.work, "push", "-q", "-f", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path)


class TestGitSource:
    def test_first_poll_clones_and_reports_head(self, upstream: Upstream, tmp_path: Path) -> None:
        """The first poll clones the branch and returns its SHA, subject and author date."""
        sha = upstream.commit({"pod.yaml": "kind: Pod\n"}, "Add redis pod")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        rev = source.poll()
        assert isinstance(rev, Revision)
        assert (rev.sha, rev.subject) == (sha, "Add redis pod")
        assert rev.author_date.tzinfo is not None
        assert rev.root is not None and (rev.root / "pod.yaml").read_text() == "kind: Pod\n"
        assert source.current() == sha

    def test_unchanged_head_gives_none_then_new_commit_gives_revision(
        self, upstream: Upstream, tmp_path: Path
    ) -> None:
        """An unchanged branch gives None; a pushed commit is returned with its snapshot."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        source.poll()
        assert source.poll() is None
        sha = upstream.commit({"a.yaml": "v: 2\n", "b.yaml": "v: 1\n"}, "two")
        rev = source.poll()
        assert rev is not None and rev.sha == sha and rev.subject == "two"
        assert rev.root is not None and (rev.root / "a.yaml").read_text() == "v: 2\n"
        assert (rev.root / "b.yaml").exists()

    def test_local_changes_are_never_applied(self, upstream: Upstream, tmp_path: Path) -> None:
        """Files written into the clone's folder never reach a snapshot: it comes from the SHA."""
        sha = upstream.commit({"a.yaml": "v: 1\n"}, "one")
        co = tmp_path / "co"
        source = GitSource(str(upstream.bare), "main", co)
        source.poll()
        (co / "a.yaml").write_text("v: hacked\n")
        (co / "extra.yaml").write_text("kind: Pod\n")
        assert source.poll() is None
        snap = source.snapshot(sha)
        assert (snap / "a.yaml").read_text() == "v: 1\n"
        assert not (snap / "extra.yaml").exists()

    def test_force_push_moves_to_rewritten_head(self, upstream: Upstream, tmp_path: Path) -> None:
        """A rewritten branch (force push) is followed, not merged."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        upstream.commit({"a.yaml": "v: 2\n"}, "two")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        source.poll()
        git(upstream.work, "reset", "-q", "--hard", "HEAD~1")
        sha = upstream.commit({"c.yaml": "v: 3\n"}, "rewritten")
        rev = source.poll()
        assert rev is not None and rev.sha == sha and rev.root is not None
        assert (rev.root / "a.yaml").read_text() == "v: 1\n"

    def test_unreachable_repository_raises_and_keeps_checkout(
        self, upstream: Upstream, tmp_path: Path
    ) -> None:
        """A vanished upstream raises GitError naming git's reason; the last snapshot stays."""
        sha = upstream.commit({"a.yaml": "v: 1\n"}, "one")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        rev = source.poll()
        upstream.bare.rename(tmp_path / "moved.git")
        with pytest.raises(GitError, match="fetch"):
            source.poll()
        assert source.current() == sha
        assert rev is not None and rev.root is not None and (rev.root / "a.yaml").exists()

    def test_missing_branch_is_a_clear_error(self, upstream: Upstream, tmp_path: Path) -> None:
        """Cloning a branch that does not exist raises GitError naming it."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        with pytest.raises(GitError, match="nope"):
            GitSource(str(upstream.bare), "nope", tmp_path / "co").poll()

    def test_request_sync_wakes_the_loop(self, upstream: Upstream, tmp_path: Path) -> None:
        """With a long interval, request_sync() makes run() fetch a new commit at once."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co", interval=60)
        seen: list[Revision] = []
        stop = threading.Event()
        thread = threading.Thread(target=source.run, args=(seen.append, stop))
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not seen and time.monotonic() < deadline:
                time.sleep(0.05)
            sha = upstream.commit({"a.yaml": "v: 2\n"}, "two")
            started = time.monotonic()
            source.request_sync()
            while len(seen) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            print(f"sync-to-revision: {(time.monotonic() - started) * 1000:.0f} ms")
            assert [r.subject for r in seen] == ["one", "two"] and seen[-1].sha == sha
        finally:
            stop.set()
            source.request_sync()
            thread.join(5)
        assert not thread.is_alive()


class TestSnapshots:
    def test_snapshot_is_the_commit_not_the_head(self, upstream: Upstream, tmp_path: Path) -> None:
        """A snapshot of an older SHA holds that commit's files, removed ones included."""
        (upstream.work / "sub").mkdir()
        one = upstream.commit({"a.yaml": "v: 1\n", "sub/b.yaml": "v: 1\n"}, "one")
        git(upstream.work, "rm", "-q", "sub/b.yaml")
        upstream.commit({"a.yaml": "v: 2\n"}, "two")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        source.poll()
        old = source.snapshot(one)
        assert (old / "a.yaml").read_text() == "v: 1\n"
        assert (old / "sub" / "b.yaml").exists()

    def test_prune_keeps_the_named_and_the_newest(self, upstream: Upstream, tmp_path: Path) -> None:
        """Pruning keeps the named SHAs and the newest made; the rest and leftovers go."""
        one = upstream.commit({"a.yaml": "v: 1\n"}, "one")
        two = upstream.commit({"a.yaml": "v: 2\n"}, "two")
        three = upstream.commit({"a.yaml": "v: 3\n"}, "three")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        source.update()
        for sha in (one, two, three):
            source.snapshot(sha)
        (source.snapshots_dir / f".{one}.partial-1").mkdir()  # a build killed half-way
        source.prune_snapshots({one})
        assert sorted(p.name for p in source.snapshots_dir.iterdir()) == sorted([one, three])

    def test_repository_index_lock_does_not_matter(
        self, upstream: Upstream, tmp_path: Path
    ) -> None:
        """A fresh index.lock (a live git's) stops neither a fetch nor a snapshot."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        co = tmp_path / "co"
        source = GitSource(str(upstream.bare), "main", co)
        source.poll()
        (co / ".git" / "index.lock").write_text("")
        sha = upstream.commit({"a.yaml": "v: 2\n"}, "two")
        rev = source.poll()
        assert rev is not None and rev.sha == sha
        assert (co / ".git" / "index.lock").exists()  # young: maybe someone's, left alone


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


class TestStaleLocks:
    def test_stale_ref_lock_is_removed_and_fetch_works(
        self, upstream: Upstream, tmp_path: Path
    ) -> None:
        """A ref lock a killed fetch left (older than the threshold) is removed; the poll works."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        co = tmp_path / "co"
        source = GitSource(str(upstream.bare), "main", co)
        source.poll()
        lock = co / ".git" / "refs" / "remotes" / "origin" / "main.lock"
        lock.write_text("")
        _age(lock, 60)
        sha = upstream.commit({"a.yaml": "v: 2\n"}, "two")
        rev = source.poll()
        assert rev is not None and rev.sha == sha
        assert not lock.exists()

    def test_young_lock_is_left_alone(self, upstream: Upstream, tmp_path: Path) -> None:
        """A ref lock younger than the threshold may be a live git's: kept, and the fetch fails."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        co = tmp_path / "co"
        source = GitSource(str(upstream.bare), "main", co)
        source.poll()
        lock = co / ".git" / "refs" / "remotes" / "origin" / "main.lock"
        lock.write_text("")
        upstream.commit({"a.yaml": "v: 2\n"}, "two")
        with pytest.raises(GitError, match="lock"):
            source.poll()
        assert lock.exists()

    def test_lock_held_open_is_left_alone(self, upstream: Upstream, tmp_path: Path) -> None:
        """An old lock that a process still holds open is not removed."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        co = tmp_path / "co"
        source = GitSource(str(upstream.bare), "main", co)
        source.poll()
        lock = co / ".git" / "shallow.lock"
        with open(lock, "w"):
            _age(lock, 60)
            assert source.recover_stale_locks() == []
        assert source.recover_stale_locks() == [lock]


class TestCredentials:
    URL = "https://deploy:s3cr3t-t0ken@git.example.invalid/team/desired.git"

    def test_redacted_everywhere_a_message_goes(self, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        """The token in an https URL is in no error, and display_url hides it."""
        source = GitSource(self.URL, "main", tmp_path / "co")
        assert source.display_url == "https://***@git.example.invalid/team/desired.git"
        # Resolved to nothing: git fails at once without any traffic leaving the machine.
        monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
        monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{tmp_path / 'absent.git'}.insteadOf")
        monkeypatch.setenv("GIT_CONFIG_VALUE_0", self.URL)
        with pytest.raises(GitError) as err:
            source.poll()
        assert "s3cr3t" not in str(err.value) and "deploy" not in str(err.value)
        assert "***@git.example.invalid" in str(err.value)
