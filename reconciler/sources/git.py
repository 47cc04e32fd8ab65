"""The git source: keeps a checkout at the head of a branch and reports each new revision.

First stage of the flow when the desired state lives in git: the service calls
`poll()` every `interval` (or at once after `request_sync()`, which `reconciler
sync` triggers through `reconciler.sources.trigger`); a new `Revision` means the
checkout now holds that commit, and the service loads the checkout as a whole,
applies it or refuses it naming the SHA. Uses the git CLI, never a library.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

GIT_TIMEOUT = 120.0


class GitError(RuntimeError):
    """A git command failed; the message carries git's own stderr."""


@dataclass(frozen=True)
class Revision:
    """A commit now checked out: full SHA, subject line, author date."""

    sha: str
    subject: str
    author_date: datetime

    @property
    def short(self) -> str:
        return self.sha[:12]


class GitSource:
    """A checkout of `branch` of `url_or_path` in `checkout_dir`, refreshed by `poll()`."""

    def __init__(
        self, url_or_path: str, branch: str, checkout_dir: Path, interval: float = 30.0
    ) -> None:
        self.url = _absolute_if_local(url_or_path)
        self.branch = branch
        self.checkout_dir = Path(checkout_dir)
        self.interval = interval
        self._last: str = ""
        self._wake = threading.Event()

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        env = {
            **os.environ,
            # Never wait on a password prompt or an editor: a poll must finish.
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "LC_ALL": "C",
        }
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd or self.checkout_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} timed out after {GIT_TIMEOUT:.0f}s") from None
        if done.returncode != 0:
            detail = done.stderr.strip() or done.stdout.strip()
            raise GitError(f"git {' '.join(args)}: {detail}")
        return done.stdout

    def _ensure_clone(self) -> None:
        if (self.checkout_dir / ".git").is_dir():
            if self._git("remote", "get-url", "origin").strip() != self.url:
                self._git("remote", "set-url", "origin", self.url)
            return
        self.checkout_dir.parent.mkdir(parents=True, exist_ok=True)
        if self.checkout_dir.exists() and any(self.checkout_dir.iterdir()):
            raise GitError(f"{self.checkout_dir} exists, is not empty and is not a git checkout")
        self._git(
            "clone", "--quiet", "--no-checkout", "--branch", self.branch, "--single-branch",
            self.url, str(self.checkout_dir), cwd=self.checkout_dir.parent,
        )

    def update(self) -> str:
        """Fetch and hard-reset the checkout to the branch head; returns the head SHA."""
        self._ensure_clone()
        remote_ref = f"refs/remotes/origin/{self.branch}"
        refspec = f"+refs/heads/{self.branch}:{remote_ref}"
        self._git("fetch", "--quiet", "--prune", "origin", refspec)
        # Local edits in the checkout are never applied: the branch head is the truth.
        self._git("reset", "--quiet", "--hard", remote_ref)
        self._git("clean", "-q", "-fdx")
        return self._git("rev-parse", "HEAD").strip()

    def poll(self) -> Revision | None:
        """Update the checkout; the new Revision when the head moved, else None.

        Raises GitError when the repository cannot be reached or read; the
        previous revision stays checked out for the caller to keep using.
        """
        self._wake.clear()
        sha = self.update()
        if sha == self._last:
            return None
        self._last = sha
        subject, _, date = self._git("log", "-1", "--format=%s%x00%aI", sha).strip().partition("\0")
        return Revision(sha=sha, subject=subject, author_date=datetime.fromisoformat(date))

    def current(self) -> str:
        """The SHA last reported by poll(); "" before the first successful poll."""
        return self._last

    def request_sync(self) -> None:
        """Make the next wait_due() return now (safe from a signal handler)."""
        self._wake.set()

    def wait_due(self, timeout: float | None = None) -> bool:
        """Sleep until the interval passes or a sync is requested; True when requested."""
        return self._wake.wait(self.interval if timeout is None else timeout)

    def run(self, on_revision: Callable[[Revision], None], stop: threading.Event) -> None:
        """Poll until `stop` is set: each interval, and at once on request_sync()."""
        while not stop.is_set():
            try:
                revision = self.poll()
            except GitError as e:
                log.warning("git source: %s", e)
                revision = None
            if revision is not None:
                try:
                    on_revision(revision)
                except Exception:
                    log.exception("git source: applying %s failed", revision.short)
            self.wait_due()


def _absolute_if_local(url_or_path: str) -> str:
    """Local paths become absolute so `git remote get-url` compares equal across runs."""
    if "://" in url_or_path or url_or_path.startswith("git@"):
        return url_or_path
    return str(Path(url_or_path).expanduser().resolve())
