"""The git source: fetches a branch and gives each new head as an immutable snapshot folder.

First stage of the flow when the desired state lives in git: the service calls
`poll()` every `interval` (or at once after `request_sync()`, which `reconciler
sync` triggers through `reconciler.sources.trigger`); a new `Revision` carries
the folder holding exactly that commit, and the service loads it as a whole,
applies it or refuses it naming the SHA. Uses the git CLI, never a library.

Never a working tree being rewritten: `git reset --hard` unlinks and recreates
files, and a load running beside it saw a file missing and took it as removed.
A commit is written from the object database by its SHA (`read-tree` into a
private index, `checkout-index` into a fresh folder, renamed into place when
complete) under `<checkout>/.git/reconciler-snapshots/<sha>`, and never
changes after; old ones are pruned by the reader once it moved on. Lock files
a killed git left behind (index.lock, shallow.lock, ref locks) are removed
when old and held by no process, with a warning. Credentials in the URL
(https://user:token@host/...) never appear in errors or logs: see `redact`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

GIT_TIMEOUT = 120.0
# A lock file older than this, held open by no process, was left by a killed git.
# Live git commands hold their locks for milliseconds.
STALE_LOCK_AGE = 5.0
SNAPSHOTS = "reconciler-snapshots"

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def redact(text: str) -> str:
    """`https://user:token@host/x` -> `https://***@host/x`, wherever it occurs in `text`."""
    return _USERINFO.sub(r"\1***@", text)


class GitError(RuntimeError):
    """A git command failed; the message carries git's own stderr."""


@dataclass(frozen=True)
class Revision:
    """A new head: full SHA, subject line, author date, and the snapshot folder holding it."""

    sha: str
    subject: str
    author_date: datetime
    root: Path | None = None

    @property
    def short(self) -> str:
        return self.sha[:12]


class GitSource:
    """A clone of `branch` of `url_or_path` in `checkout_dir`, fetched by `poll()`."""

    def __init__(
        self, url_or_path: str, branch: str, checkout_dir: Path, interval: float = 30.0
    ) -> None:
        self.url = _absolute_if_local(url_or_path)
        self.display_url = redact(self.url)  # for messages, events and `get revision`
        self.branch = branch
        self.checkout_dir = Path(checkout_dir)
        self.interval = interval
        self._last: str = ""
        self._wake = threading.Event()
        # Held by every command of ours that takes locks in .git (clone, remote, fetch):
        # while we hold it, a lock file there is nobody's of ours. Snapshot builds use a
        # private index and take no lock in .git, so they need not wait for a fetch.
        self._fetch_lock = threading.RLock()
        self._snap_lock = threading.Lock()
        self._newest = ""  # the snapshot made last: never pruned, a reader may be about to use it

    @property
    def snapshots_dir(self) -> Path:
        return self.checkout_dir / ".git" / SNAPSHOTS

    def _git(self, *args: str, cwd: Path | None = None, index: Path | None = None) -> str:
        env = {
            **os.environ,
            # Never wait on a password prompt or an editor: a poll must finish.
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "LC_ALL": "C",
        }
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
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
            raise GitError(redact(f"git {' '.join(args)}: {detail}"))
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
        """Fetch the branch; returns its head SHA. No working tree is touched."""
        with self._fetch_lock:
            self.recover_stale_locks()
            self._ensure_clone()
            remote_ref = f"refs/remotes/origin/{self.branch}"
            refspec = f"+refs/heads/{self.branch}:{remote_ref}"
            self._git("fetch", "--quiet", "--prune", "origin", refspec)
            return self._git("rev-parse", "--verify", f"{remote_ref}^{{commit}}").strip()

    def snapshot(self, sha: str) -> Path:
        """The folder holding commit `sha` exactly, written from the object database once.

        Built beside its final name and renamed into place, so a reader sees it
        whole or not at all; a folder of that name is never written again.
        """
        with self._snap_lock:
            final = self.snapshots_dir / sha
            self._newest = sha
            if final.is_dir():
                return final
            self.snapshots_dir.mkdir(parents=True, exist_ok=True)
            partial = self.snapshots_dir / f".{sha}.partial-{os.getpid()}"
            index = self.snapshots_dir / f".{sha}.index-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            try:
                # A private index: the repository's own index (and its lock) is never used.
                self._git("read-tree", sha, index=index)
                self._git("checkout-index", "--all", "--force", f"--prefix={partial}/", index=index)
                os.rename(partial, final)
            finally:
                index.unlink(missing_ok=True)
                shutil.rmtree(partial, ignore_errors=True)
            return final

    def prune_snapshots(self, keep: Iterable[str]) -> None:
        """Remove snapshots but `keep` and the newest one made (and leftovers of killed builds)."""
        with self._snap_lock:
            wanted = {*keep, self._newest}
            try:
                children = list(self.snapshots_dir.iterdir())
            except FileNotFoundError:
                return
            for child in children:
                if child.name not in wanted:
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)

    def recover_stale_locks(self) -> list[Path]:
        """Remove lock files a killed git left in .git; returns those removed.

        Only while none of our commands that lock in .git runs (we hold the fetch
        lock) and only locks older than STALE_LOCK_AGE that no process holds open:
        a user's git working in the same repository is left alone.
        """
        removed: list[Path] = []
        git_dir = self.checkout_dir / ".git"
        with self._fetch_lock:
            for lock in _lock_files(git_dir):
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age < STALE_LOCK_AGE or _held_open(lock):
                    continue
                log.warning("git source: removing stale lock %s (%.0fs old, no git holds it)",
                            lock, age)
                lock.unlink(missing_ok=True)
                removed.append(lock)
        return removed

    def poll(self) -> Revision | None:
        """Fetch; the new Revision (with its snapshot folder) when the head moved, else None.

        Raises GitError when the repository cannot be reached or read; the
        previous revision's snapshot stays for the caller to keep using.
        """
        self._wake.clear()
        sha = self.update()
        if sha == self._last:
            return None
        root = self.snapshot(sha)
        subject, _, date = self._git("log", "-1", "--format=%s%x00%aI", sha).strip().partition("\0")
        self._last = sha
        return Revision(sha=sha, subject=subject, author_date=datetime.fromisoformat(date),
                        root=root)

    def current(self) -> str:
        """The SHA last reported by poll(); "" before the first successful poll."""
        return self._last

    def request_sync(self) -> None:
        """Make the next wait_due() return now (safe from a signal handler)."""
        self._wake.set()

    def wait_due(self, timeout: float | None = None) -> bool:
        """Sleep until the interval passes or a sync is requested; True when requested."""
        return self._wake.wait(self.interval if timeout is None else timeout)

    def run(self, on_revision: Callable[[Revision], None], stop: threading.Event,
            on_status: Callable[[bool, str], None] | None = None) -> None:
        """Poll until `stop` is set: each interval, and at once on request_sync().

        `on_status(ok, message)` hears how each fetch went (for `get cs`).
        """
        while not stop.is_set():
            try:
                revision = self.poll()
            except GitError as e:
                log.warning("git source %s: %s", self.display_url, e)
                revision = None
                if on_status is not None:
                    on_status(False, f"{self.display_url} ({self.branch}): {e}")
            else:
                if on_status is not None:
                    on_status(True, f"{self.display_url} ({self.branch}) at {self._last[:12]}")
            if revision is not None:
                try:
                    on_revision(revision)
                except Exception:
                    log.exception("git source: applying %s failed", revision.short)
            self.wait_due()


def _lock_files(git_dir: Path) -> list[Path]:
    """The lock files git takes in `git_dir`: index, shallow, HEAD, config, packed-refs, refs."""
    found = [git_dir / n for n in ("index.lock", "shallow.lock", "HEAD.lock", "config.lock",
                                   "packed-refs.lock", "FETCH_HEAD.lock", "ORIG_HEAD.lock")]
    found = [p for p in found if p.exists()]
    refs = git_dir / "refs"
    if refs.is_dir():
        found += sorted(refs.rglob("*.lock"))
    return found


def _held_open(path: Path) -> bool:
    """True when some process has `path` open (Linux /proc); False when none does or no /proc."""
    target = str(path.resolve())
    proc = Path("/proc")
    for fd_dir in proc.glob("[0-9]*/fd"):
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return True
            except OSError:
                continue
    return False


def _absolute_if_local(url_or_path: str) -> str:
    """Local paths become absolute so `git remote get-url` compares equal across runs."""
    if "://" in url_or_path or url_or_path.startswith("git@"):
        return url_or_path
    return str(Path(url_or_path).expanduser().resolve())
