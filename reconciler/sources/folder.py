"""The folder source: watchdog events on the desired folder, coalesced into one call per burst.

First stage of the flow when the desired state is a plain folder: file events
only collect paths; after a quiet `debounce` (or at most `max_wait` into a
burst) `on_change(paths)` is called once from this source's own thread, and the
caller (the service) reloads those files and enqueues the affected keys. An
editor save or a `git checkout` of 100 files gives one call.

The root itself is looked at every `ROOT_CHECK` seconds: inotify watches an
inode, so a folder deleted and made again, a symlink re-pointed to another
release, or a mount coming back would otherwise go unwatched. When the root's
identity changes (or it goes), the watch is made again on what the path names
now and the root is reported as changed, so a pass runs at once (and, when the
root is unreadable, the desired controller reports it rather than apply).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirModifiedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from reconciler.api.types import LoadResult

log = logging.getLogger(__name__)

# A file modified this recently is probably still being written; a later, quieter
# pass reports it. Capped so a file appended to forever is still reported.
SETTLE = 0.05
# The quiet wait of a burst made only of atomic saves: a hidden or leftover temporary file
# renamed onto a manifest's name (the Kubernetes API's writes, `reconciler scale`, most
# tools' safe writes). The renamed-in file is complete, so waiting for more adds nothing but
# latency; anything else (a write in place, a deletion, a manifest renamed away, as vim's
# backup rename before it writes the file anew) waits `debounce`.
WHOLE_DEBOUNCE = 0.01
MAX_DEFER = 5.0
ROOT_CHECK = 1.0


def ignored(root: Path, path: Path) -> bool:
    """Hidden folders and files (.git, .#lock, .x.swp), and editor leftovers (x~, vim's 4913)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    if any(p.startswith(".") for p in parts):
        return True
    name = parts[-1] if parts else ""
    return name.endswith("~") or name == "4913"


class _Handler(FileSystemEventHandler):
    def __init__(self, source: FolderSource) -> None:
        self._source = source

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Opening, reading and a directory's mtime say nothing about content.
        if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent | DirModifiedEvent):
            return
        if event.event_type in ("deleted", "moved") and \
                _as_path(event.src_path) == self._source.root:
            # The watched inode left the path: watch again even if a new folder gets its number.
            self._source.root_lost = True
        if event.event_type == "moved":
            # An atomic save (write temp, rename over) is a change of the destination;
            # the source path is gone, which the loader treats as a deletion. A hidden or
            # leftover file renamed onto a manifest's name is whole: its content was
            # complete before the rename (see FolderSource.add). A manifest renamed away
            # (`mv web.yaml web.yaml.bak`, then a new web.yaml) is a disappearance: it
            # waits the whole debounce.
            src, dest = _as_path(event.src_path), _as_path(event.dest_path)
            root = self._source.root
            self._source.add(dest, whole=ignored(root, src) and not ignored(root, dest))
            self._source.add(src)
            return
        self._source.add(_as_path(event.src_path))


def _as_path(p: bytes | str) -> Path:
    return Path(os.fsdecode(p))


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the folder `path` names now, following symlinks; None if none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def load_revision(result: LoadResult) -> str:
    """The folder's counterpart of a git SHA: a hash of what a load applies.

    Over each object's key and content hash, and the names of the files that failed
    (their objects stay as recorded), in a fixed order: the same folder gives the same
    revision across restarts and reordered files, and any applied change a new one, so
    `get revision` and the reconciler_applied_revision_* metrics say when the folder's
    content last changed, not only git's.
    """
    lines = sorted(f"{o.key.kind}/{o.key.namespace}/{o.key.name} {o.content_hash}"
                   for o in result.objects)
    lines += [f"failed {name}" for name in sorted(result.failed_files)]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return f"folder:{digest[:16]}"


class FolderSource:
    """Watch `root` recursively; call `on_change(paths)` once per burst of changes."""

    def __init__(
        self,
        root: Path,
        on_change: Callable[[frozenset[Path]], None],
        debounce: float = 0.1,
        max_wait: float = 0.5,
    ) -> None:
        self.given = Path(root)  # as configured: maybe a symlink that is re-pointed later
        self.root = self.given.resolve()
        self._identity: tuple[int, int] | None = None
        self.root_lost = False
        self._root_thread: threading.Thread | None = None
        self._root_stop = threading.Event()
        self.on_change = on_change
        self.debounce = debounce
        self.max_wait = max_wait
        self._lock = threading.Condition()
        self._pending: dict[Path, float] = {}  # path -> when first seen in this burst
        self._whole: set[Path] = set()  # pending paths whose last event was an atomic save
        self._last_event = 0.0
        self._retry_at = 0.0  # after a pass that left unsettled files behind
        self._stopped = False
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._thread: threading.Thread | None = None
        self.calls = 0

    def add(self, path: Path, *, whole: bool = False) -> None:
        """Note a changed path (from a watchdog thread); never blocks on the consumer.

        `whole`: a temporary file renamed onto it, an atomic save (WHOLE_DEBOUNCE).
        """
        if ignored(self.root, path):
            return
        with self._lock:
            now = time.monotonic()
            self._pending.setdefault(path, now)
            if whole:
                self._whole.add(path)
            else:
                self._whole.discard(path)
            self._last_event = now
            self._lock.notify()

    def start(self) -> None:
        """Begin watching; events from before start() are not reported."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"desired folder {self.root} does not exist")
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="folder-source", daemon=True)
        self._thread.start()
        self._identity = _identity(self.given)
        self._watch()
        self._root_stop.clear()
        self._root_thread = threading.Thread(target=self._check_root_loop,
                                             name="folder-source-root", daemon=True)
        self._root_thread.start()

    def _watch(self) -> None:
        observer = Observer()
        observer.schedule(_Handler(self), str(self.root), recursive=True)
        observer.start()
        self._observer = observer

    def _unwatch(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def check_root(self) -> bool:
        """Watch again when the root path now names another folder (or none); True if it did."""
        now = _identity(self.given)
        if now == self._identity and not (self.root_lost and now is not None):
            return False
        self._identity = now
        if now is not None:
            self.root_lost = False
        self._unwatch()
        if now is not None:
            self.root = self.given.resolve()
            try:
                self._watch()
            except OSError as e:  # gone again already: the next check retries
                log.warning("folder source: cannot watch %s: %s", self.root, e)
                self._identity = None
        log.warning("folder source: %s %s; reloading", self.given,
                    "is back (watched again)" if now is not None else "is gone")
        self.add(self.root)
        return True

    def _check_root_loop(self) -> None:
        while not self._root_stop.wait(ROOT_CHECK):
            try:
                self.check_root()
            except Exception:
                log.exception("folder source: checking %s failed", self.given)

    def stop(self) -> None:
        """Stop watching and wait for the delivery thread; pending paths are dropped."""
        self._root_stop.set()
        if self._root_thread is not None and self._root_thread is not threading.current_thread():
            self._root_thread.join(timeout=5)
        self._root_thread = None
        self._unwatch()
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self.calls += 1
            try:
                self.on_change(batch)
            except Exception:
                # The consumer's failure must not end the watch; the periodic
                # resync will reload everything anyway.
                log.exception("folder source: on_change failed for %d paths", len(batch))

    def _next_batch(self) -> frozenset[Path] | None:
        with self._lock:
            while True:
                if self._stopped:
                    return None
                if not self._pending:
                    self._lock.wait()
                    continue
                now = time.monotonic()
                first = min(self._pending.values())
                quiet = WHOLE_DEBOUNCE if self._whole.issuperset(self._pending) else self.debounce
                deadline = min(self._last_event + quiet, first + self.max_wait)
                deadline = max(deadline, self._retry_at)
                if now < deadline:
                    self._lock.wait(deadline - now)
                    continue
                ready = {p for p, t in self._pending.items() if self._settled(p, now - t)}
                # Files still being written stay pending and are looked at again, after a
                # debounce (not at once: their mtime moves on only as their writer writes).
                self._retry_at = now + self.debounce if len(ready) < len(self._pending) else 0.0
                if not ready:
                    continue
                for p in ready:
                    del self._pending[p]
                    self._whole.discard(p)
                return frozenset(ready)

    def _settled(self, path: Path, waited: float) -> bool:
        """False while the file's mtime is still moving (a writer is mid-way)."""
        if waited >= MAX_DEFER or path in self._whole:
            return True  # a renamed-in file was complete before its rename
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return True  # gone, or not a file: report it, the loader decides
        return time.time() - mtime >= SETTLE
