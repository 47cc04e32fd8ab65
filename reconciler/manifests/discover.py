"""Finding and reading manifest files: which entries of a folder are read, and how, safely.

The first step of reconciler.manifests.loader: `discover` walks the desired
folder (symlinks leaving it refused, hidden entries and editor leftovers
ignored), and `read_regular` reads one file's bytes. Only regular files are
ever opened: a named pipe would block the loader forever and a device file
(`/dev/zero`) would be read until memory runs out, so both are told apart by
their stat before any open, and again on the open descriptor (opened
non-blocking) in case the path was replaced in between.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import NamedTuple

from reconciler.api.types import Diagnostic, Position, ReadFailure

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

# (display name, path, stat when already known)
File = tuple[str, str, os.stat_result | None]

_TYPES = ((stat.S_ISFIFO, "a named pipe (fifo)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISDIR, "a folder"))


def special_type(mode: int) -> str:
    """What a non-regular file is ("a named pipe (fifo)", ...); "" for a regular file."""
    if stat.S_ISREG(mode):
        return ""
    return next((name for test, name in _TYPES if test(mode)), "not a regular file")


def skipped(name: str, what: str, target: str = "") -> Diagnostic:
    """The warning for a special file that is never opened."""
    via = f"symlink to {target}, " if target else ""
    return Diagnostic("warning", Position(name), "",
                      f"skipped: {via}{what}, not a regular file (only regular files are read)")


class SpecialFile(OSError):
    """The path names a fifo, socket or device: not read (`what` says which)."""

    def __init__(self, what: str) -> None:
        super().__init__(errno.EINVAL, what)
        self.what = what


def read_regular(path: str, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file; SpecialFile (never blocking) otherwise."""
    # O_NONBLOCK: opening a fifo with no writer returns at once instead of hanging.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        what = special_type(os.fstat(fd).st_mode)
        if what:
            raise SpecialFile(what)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def ignored(name: str) -> bool:
    """Hidden files and folders (.git, .x.swp, .#x) and editor leftovers (x~, vim's 4913)."""
    return name.startswith(".") or name.endswith("~") or name == "4913"


def failure(path: str, e: OSError | RuntimeError, what: str = "") -> ReadFailure:
    """A path that could not be read, with the errno when there is one."""
    number = e.errno if isinstance(e, OSError) else None
    text = (e.strerror if isinstance(e, OSError) else None) or str(e)
    return ReadFailure(path, number, f"{what}{text}")


def _inside(target: Path, folder: Path) -> bool:
    return target == folder or folder in target.parents


class Found(NamedTuple):
    """What a walk of a folder found."""

    files: list[File]
    problems: list[Diagnostic]  # refusals and skips
    failures: list[ReadFailure]  # what could not be read
    # st_dev of the directory the top listing came from (None when it was not listed):
    # the filesystem a mount point's listing really read, whatever is mounted since.
    device: int | None


def discover(folder: Path, display: str) -> Found:
    """Manifest files under `folder`, refusals and skips, what could not be read, its device."""
    files: list[File] = []
    problems: list[Diagnostic] = []
    failures: list[ReadFailure] = []
    try:
        real_root = folder.resolve()
    except (OSError, RuntimeError) as e:
        return Found([], [], [failure(display, e)], None)
    visited = {real_root}
    device: int | None = None
    # The walk starts at the resolved root: a symlinked folder switched to another release
    # mid-walk (`ln -sfn`) is read whole from the target it had, never half from each.
    stack: list[tuple[str, str]] = [(str(real_root), display)]
    top = True
    while stack:
        here, shown = stack.pop()
        fd = None
        try:
            if top:
                # The top folder is listed from one open of it, so the device is the one
                # the listing read: a mount that goes or comes meanwhile cannot pair an
                # empty listing with the mounted filesystem's device.
                fd = os.open(here, os.O_RDONLY | os.O_DIRECTORY)
                device = os.fstat(fd).st_dev
            entries = sorted(os.scandir(here if fd is None else fd), key=lambda e: e.name)
        except OSError as e:
            # Recorded against the folder: every file under it is unread, not removed.
            failures.append(failure(shown, e))
            entries = []
        top = False
        try:
            for entry in entries:
                if ignored(entry.name):
                    continue
                name = f"{shown}/{entry.name}" if shown else entry.name
                try:
                    _visit(entry, os.path.join(here, entry.name), name, real_root, visited,
                           stack, files, problems)
                except (OSError, RuntimeError) as e:
                    failures.append(failure(name, e))
        finally:
            if fd is not None:
                os.close(fd)
    files.sort()
    return Found(files, problems, failures, device)


def _visit(entry: os.DirEntry[str], path: str, name: str, real_root: Path, visited: set[Path],
           stack: list[tuple[str, str]], files: list[File], problems: list[Diagnostic]) -> None:
    """Sort one directory entry (at `path`) into a folder to descend, a manifest file, or a
    refusal. `entry.path` is not used: the top folder's entries are listed from its fd."""
    is_manifest = entry.name.endswith(MANIFEST_SUFFIXES)
    if entry.is_symlink():
        target = Path(path).resolve()
        if not target.exists():
            # Maybe a folder on a mount that is gone: unread, never taken as empty.
            raise FileNotFoundError(errno.ENOENT, f"dangling symlink to {target}")
        if not _inside(target, real_root):
            if is_manifest or target.is_dir():
                problems.append(Diagnostic(
                    "error", Position(name), "",
                    f"symlink leaves the folder (points to {target}); refused"))
            return
        if target.is_dir():
            if target not in visited:
                visited.add(target)
                stack.append((path, name))
            return
        what = special_type(os.stat(target).st_mode)
        if what:
            problems.append(skipped(name, what, str(target)))
            return
    if entry.is_dir(follow_symlinks=False):
        visited.add(Path(path).resolve())
        stack.append((path, name))
        return
    if not (entry.is_symlink() or entry.is_file(follow_symlinks=False)):
        try:
            what = special_type(entry.stat(follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return  # gone since the listing: nothing to skip
        problems.append(skipped(name, what or "not a regular file"))
    elif is_manifest:
        # A stat that fails here is retried when the file is read (it may have been replaced).
        st: os.stat_result | None
        try:
            st = entry.stat()
        except OSError:
            st = None
        files.append((name, path, st))
