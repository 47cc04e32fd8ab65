"""Linux inotify on a SQLite store's files: a commit wakes the data_version poller at once.

Used by `reconciler.store.changes.DataVersionPoller`, so an idle service reads
`PRAGMA data_version` when the store's files were written, not 20 times a second
for nothing. SQLite writes every commit with write(2): into the `-wal` file in WAL
mode, into the database (after its `-journal`) otherwise, and a checkpoint into the
database; each is an IN_MODIFY of the directory's watch (whichever process wrote,
on this machine). A watch only wakes the poller, which still reads data_version to
know; and the poller still reads it now and then without a wake-up, should an
event ever be missed. `FileWatch.open` gives None where inotify is not available
(another OS, the watch limit reached): the caller then polls on a timer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import struct
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

_IN_MODIFY = 0x002
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_Q_OVERFLOW = 0x4000
_MASK = _IN_MODIFY | _IN_MOVED_TO | _IN_CREATE
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of name
SUFFIXES = ("", "-wal", "-journal")  # the files a commit writes


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


class FileWatch:
    """An inotify descriptor watching one directory for writes to a store's files."""

    def __init__(self, fd: int, names: frozenset[bytes]) -> None:
        self._fd = fd
        self._names = names
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    @classmethod
    def open(cls, database: str) -> FileWatch | None:
        """A watch of `database`'s directory for its own files; None where there is none."""
        libc = _libc()
        if libc is None:
            return None
        path = Path(database).resolve()
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            log.info("no inotify for %s (%s): the store is polled", path,
                     os.strerror(ctypes.get_errno()))
            return None
        if libc.inotify_add_watch(fd, str(path.parent).encode(), _MASK) < 0:
            log.info("no inotify watch of %s (%s): the store is polled", path.parent,
                     os.strerror(ctypes.get_errno()))
            os.close(fd)
            return None
        return cls(fd, frozenset((path.name + s).encode() for s in SUFFIXES))

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` s for a write to one of the files; True when one came.

        Every event waiting is read at once: a burst of writes is one wake-up. Writes to
        other files of the directory (a log beside the store) are read and passed over.
        """
        deadline = time.monotonic() + timeout
        while self._poll.poll(max(int((deadline - time.monotonic()) * 1000), 0)):
            if self._drain():
                return True
        return False

    def _drain(self) -> bool:
        written = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return written
            offset = 0
            while offset + _EVENT.size <= len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size:offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                written = written or bool(mask & _IN_Q_OVERFLOW) or name in self._names

    def close(self) -> None:
        os.close(self._fd)
