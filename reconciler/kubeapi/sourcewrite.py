"""The desired source as the API writes it: files in the desired folder, or a commit on git.

The last step of a write through the Kubernetes API (kubeapi/writes.py): the
object's new manifest text (kubeapi/docedit.py) becomes a change of the source
the service follows, and the service converges from it as from any edit; the
store is never written here. A `Session` gives a folder to read the current
manifests from and writes a list of `Change`s:

- folder source: the files themselves, each replaced in one rename (as
  `reconciler scale` does), a file removed when its last object goes;
- git source: a commit on the configured branch, made in a bare clone of our own
  (`<checkout>.kubeapi.git`, never the service's checkout) from a private index,
  and pushed without force: when the branch moved since it was read, the push is
  refused and the write answers 409 Conflict (kubectl retries a patch on it).
  A local non-bare repository with the branch checked out refuses pushes unless
  it sets `receive.denyCurrentBranch=updateInstead`; its message says so.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.api.manifest_edit import EditError, find_object
from reconciler.manifests.discover import discover, read_regular
from reconciler.manifests.parse import Limits
from reconciler.sources.git import redact

GIT_TIMEOUT = 60.0
AUTHOR = ("reconciler API", "reconciler@localhost")


@dataclass(frozen=True)
class Change:
    """A file of the source, by its path under the root: its new text, or None to remove it."""

    path: str
    text: str | None


class SourceWriteError(RuntimeError):
    """The change could not be written; the message says why."""


class SourceConflict(SourceWriteError):
    """The branch moved while the change was made: read again and retry."""


@contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """Hold the desired folder's write lock while inside: fcntl.flock on the folder itself,
    shared by every process that edits its files (the API's FolderWriter, `reconciler scale`).

    Without it `reconciler scale` and a kubectl patch of one file could both start from
    its old text, and the second rename would drop the first change. The folder is the
    lock (no lock file): whoever may write the manifests may open it, and nothing appears
    in the folder or beside it (in a git work tree, say).
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_atomically(path: Path, text: str) -> None:
    """Replace (or create) the file in one rename, so the watcher never reads half of it;
    an existing file's mode is kept. `reconciler scale`, `drain` and `rollout` write so too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def inside(root: Path, rel: str) -> Path:
    """Where the file `rel` under `root` is written: where it points when it is a symlink
    (a manifest linked from elsewhere in the folder), so the link stays a link; refused
    outside the root. `reconciler scale`, `drain` and `rollout` write there too."""
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise SourceWriteError(f"{rel} is outside the desired folder")
    return path


def _targets(root: Path, rel: str) -> list[str]:
    """`rel` under the root, and where it points when it is a symlink (within the root)."""
    target = inside(root, rel).relative_to(root.resolve()).as_posix()
    return [rel] if target == Path(rel).as_posix() else [rel, target]


def _prune_empty(folder: Path, root: Path) -> None:
    """Remove folders left empty by a removal (`team/` after its last file), up to the root."""
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:  # not empty, or gone
            return
        folder = folder.parent


@dataclass
class Session:
    """One write: `root` holds the source as it is now; `write` changes it (once)."""

    root: Path
    writer: FolderWriter | GitWriter
    head: str = ""  # the commit read (git); the push must be on top of it

    def read(self, rel: str) -> str | None:
        path = inside(self.root, rel)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def locate(self, kind: str, namespace: str, name: str) -> tuple[str, str] | None:
        """(path under the root, text) of the manifest file declaring the object, or None.

        The files are the loader's (`manifests.discover`): a file it refuses (a symlink
        leaving the folder, a fifo, one too large) declares nothing here either.
        """
        limit = Limits().max_file_bytes
        files = discover(self.root, "").files
        for rel, path, _ in files:
            try:
                data = read_regular(path, limit)
                if len(data) > limit:
                    continue
                text = data.decode("utf-8")
                find_object(text, kind, namespace, name)
            except (EditError, UnicodeDecodeError, OSError):
                continue
            return rel, text
        return None

    def write(self, changes: list[Change], message: str) -> str:
        """Apply the changes; what was done, for the log ("wrote x.yaml", "committed abc")."""
        return self.writer.apply(self, changes, message)


@dataclass
class FolderWriter:
    """The desired folder, written in place."""

    root: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def session(self) -> Iterator[Session]:
        # One write at a time: two patches of one file must not both start from its old
        # text, in this process (the threads of the server) or another (the CLI).
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock, folder_lock(self.root):
            yield Session(self.root, self)

    def apply(self, session: Session, changes: list[Change], message: str) -> str:
        for change in changes:
            path = inside(self.root, change.path)  # where a symlink points: written there
            if change.text is None:
                for each in (self.root / change.path, path):  # a symlink and its target
                    each.unlink(missing_ok=True)
                    _prune_empty(each.parent, self.root.resolve())
            else:
                write_atomically(path, change.text)
        return "wrote " + ", ".join(c.path for c in changes)


@dataclass
class GitWriter:
    """A branch of a git repository, written by commits pushed from a bare clone of our own."""

    url: str
    branch: str
    work: Path  # the bare clone
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _git(self, *args: str, index: Path | None = None, stdin: str | None = None,
             extra_env: dict[str, str] | None = None) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C",
               **(extra_env or {})}
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        try:
            done = subprocess.run(["git", "--git-dir", str(self.work), *args], env=env,
                                  input=stdin, capture_output=True, text=True,
                                  timeout=GIT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise SourceWriteError(f"git {args[0]} timed out") from None
        if done.returncode != 0:
            detail = redact(done.stderr.strip() or done.stdout.strip())
            if "push" in args[:1] and ("rejected" in detail or "fetch first" in detail):
                raise SourceConflict(f"branch {self.branch} moved; read the object again")
            if "push" in args[:1] and "denyCurrentBranch" in detail:
                detail += (" (the branch is checked out in that repository: use a bare one, or"
                           " set receive.denyCurrentBranch=updateInstead there)")
            raise SourceWriteError(f"git {args[0]}: {detail}")
        return done.stdout

    def _fetch(self) -> str:
        if not (self.work / "HEAD").is_file():
            self.work.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "init", "-q", "--bare", str(self.work)], check=True,
                           capture_output=True, timeout=GIT_TIMEOUT)
        ref = f"refs/remotes/origin/{self.branch}"
        self._git("fetch", "-q", self.url, f"+refs/heads/{self.branch}:{ref}")
        return self._git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._lock, tempfile.TemporaryDirectory(prefix="kubeapi-write-") as tmp:
            head = self._fetch()
            root = Path(tmp) / "tree"
            root.mkdir()
            index = Path(tmp) / "index"
            self._git("read-tree", head, index=index)
            self._git(f"--work-tree={root}", "checkout-index", "--all", index=index)
            yield Session(root, self, head)

    def apply(self, session: Session, changes: list[Change], message: str) -> str:
        with tempfile.TemporaryDirectory(prefix="kubeapi-commit-") as tmp:
            index = Path(tmp) / "index"
            self._git("read-tree", session.head, index=index)
            tree_arg = f"--work-tree={session.root}"  # update-index refuses a bare repository
            for change in changes:
                paths = _targets(session.root, change.path)
                if change.text is None:
                    self._git(tree_arg, "update-index", "--force-remove", "--", *paths,
                              index=index)
                    continue
                # A symlinked manifest is written where it points, the link kept; an
                # executable file stays executable.
                path = paths[-1]
                staged = self._git("ls-files", "--stage", "--", path, index=index).split()
                mode = staged[0] if staged and staged[0] == "100755" else "100644"
                blob = self._git("hash-object", "-w", "--stdin", stdin=change.text).strip()
                self._git(tree_arg, "update-index", "--add", "--cacheinfo",
                          f"{mode},{blob},{path}", index=index)
            tree = self._git("write-tree", index=index).strip()
            name, email = AUTHOR
            ident = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                     "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
            sha = self._git("commit-tree", tree, "-p", session.head, "-m", message,
                            extra_env=ident).strip()
            self._git("push", "-q", self.url, f"{sha}:refs/heads/{self.branch}")
            return f"committed {sha[:12]} on {self.branch}"


def writer_for(desired: Path | None, git_url: str | None, branch: str,
               work: Path | None) -> FolderWriter | GitWriter | None:
    """The writer of the service's source: git when it follows git, else the desired folder."""
    if git_url:
        if "://" not in git_url and not git_url.startswith("git@"):
            git_url = str(Path(git_url).expanduser().resolve())
        return GitWriter(git_url, branch, work or Path(tempfile.gettempdir()) / "kubeapi.git")
    return FolderWriter(desired) if desired is not None else None

