"""GitSource against real local repositories: clone, new commits, local edits, force pushes."""

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
        assert (tmp_path / "co" / "pod.yaml").read_text() == "kind: Pod\n"
        assert source.current() == sha

    def test_unchanged_head_gives_none_then_new_commit_gives_revision(
        self, upstream: Upstream, tmp_path: Path
    ) -> None:
        """Polling an unchanged branch returns None; a pushed commit is returned and checked out."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        source.poll()
        assert source.poll() is None
        sha = upstream.commit({"a.yaml": "v: 2\n", "b.yaml": "v: 1\n"}, "two")
        rev = source.poll()
        assert rev is not None and rev.sha == sha and rev.subject == "two"
        assert (tmp_path / "co" / "a.yaml").read_text() == "v: 2\n"
        assert (tmp_path / "co" / "b.yaml").exists()

    def test_local_changes_are_never_applied(self, upstream: Upstream, tmp_path: Path) -> None:
        """Edits and untracked files in the checkout are discarded at the next poll."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        co = tmp_path / "co"
        source = GitSource(str(upstream.bare), "main", co)
        source.poll()
        (co / "a.yaml").write_text("v: hacked\n")
        (co / "extra.yaml").write_text("kind: Pod\n")
        assert source.poll() is None
        assert (co / "a.yaml").read_text() == "v: 1\n"
        assert not (co / "extra.yaml").exists()

    def test_force_push_moves_to_rewritten_head(self, upstream: Upstream, tmp_path: Path) -> None:
        """A rewritten branch (force push) is followed, not merged."""
        upstream.commit({"a.yaml": "v: 1\n"}, "one")
        upstream.commit({"a.yaml": "v: 2\n"}, "two")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        source.poll()
        git(upstream.work, "reset", "-q", "--hard", "HEAD~1")
        sha = upstream.commit({"c.yaml": "v: 3\n"}, "rewritten")
        rev = source.poll()
        assert rev is not None and rev.sha == sha
        assert (tmp_path / "co" / "a.yaml").read_text() == "v: 1\n"

    def test_unreachable_repository_raises_and_keeps_checkout(
        self, upstream: Upstream, tmp_path: Path
    ) -> None:
        """A vanished upstream raises GitError naming git's reason; the checkout stays."""
        sha = upstream.commit({"a.yaml": "v: 1\n"}, "one")
        source = GitSource(str(upstream.bare), "main", tmp_path / "co")
        source.poll()
        upstream.bare.rename(tmp_path / "moved.git")
        with pytest.raises(GitError, match="fetch"):
            source.poll()
        assert source.current() == sha
        assert (tmp_path / "co" / "a.yaml").exists()

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
