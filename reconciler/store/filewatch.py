"""A watch of a SQLite store's files: a commit wakes the data_version poller at once.

Used by `reconciler.store.changes.DataVersionPoller`, so an idle service reads
`PRAGMA data_version` when the store's files were written, not 20 times a second
for nothing. SQLite writes every commit with write(2): into the `-wal` file in WAL
mode, into the database (after its `-journal`) otherwise, and a checkpoint into the
database; each is a modification the OS reports (inotify on Linux), whichever
process wrote, on this machine. The watch is watchdog's, as the folder source's
(reconciler/sources/folder.py). A watch only wakes the poller, which still reads
data_version to know; and the poller still reads it now and then without a
wake-up, should an event ever be missed. `FileWatch.open` gives None where the
directory cannot be watched (the watch limit reached): the caller then polls on a
timer.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)

SUFFIXES = ("", "-wal", "-journal")  # the files a commit writes


class FileWatch(FileSystemEventHandler):
    """A watch of one directory that notes writes to a store's files."""

    def __init__(self, names: frozenset[str]) -> None:
        self._names = names
        self._written = threading.Event()
        self._observer = Observer()

    @classmethod
    def open(cls, database: str) -> FileWatch | None:
        """A watch of `database`'s directory for its own files; None where there is none."""
        path = Path(database).resolve()
        watch = cls(frozenset(path.name + s for s in SUFFIXES))
        try:
            watch._observer.schedule(watch, str(path.parent), recursive=False)
            watch._observer.start()
        except OSError as e:
            log.info("no watch of %s (%s): the store is polled", path.parent, e)
            return None
        return watch

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Called on watchdog's thread; a write to another file of the directory (a log
        # beside the store) is passed over, and so is a mere open or read of the store.
        if event.event_type in ("opened", "closed_no_write"):
            return
        for p in (event.src_path, event.dest_path):
            name = Path(p if isinstance(p, str) else p.decode()).name if p else ""
            if name in self._names:
                self._written.set()
                return

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` s for a write to one of the files; True when one came.

        Every write noted so far is taken at once: a burst of writes is one wake-up."""
        written = self._written.wait(timeout)
        self._written.clear()
        return written

    def close(self) -> None:
        self._observer.stop()
        self._observer.join(5)
