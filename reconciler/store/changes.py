"""Cheap detection that another connection (another process, mostly) wrote the store.

Used by `reconciler.control.follow` to keep the cache (`reconciler.control.
cache`) current when the CLI (`delete`, `scale`), another host's agent or any
other process writes the store: the follower waits on a `ChangeDetector` and
relists when it fires. A detector only says "something may have changed";
the relist finds what.

- `DataVersionDetector` (SQLite): `PRAGMA data_version` on a connection kept
  open. SQLite changes the value a connection sees whenever another connection
  committed; it costs a few microseconds and no I/O. One `DataVersionPoller`
  per store file and process reads it for all its detectors (each consumer of
  the service subscribes one): when inotify says the store's files were
  written, else every 50 ms, so an idle service does not wake 20 times a
  second per consumer. It cannot tell this process's own pooled
  connections from other processes: the store's own commits fire it too
  (a counter with writer ids is what tells them apart, see below).
- `TokenDetector`: the general form, any cheap token read (a revision
  counter row bumped by every write transaction, the portable fallback once
  the store has one; a detector that also learns the revisions this process
  committed can then ignore its own writes exactly).
- `PeriodicDetector`: fires every `period` seconds; for databases without a
  cheap signal yet (PostgreSQL today: a `LISTEN` connection whose `wait`
  blocks on the socket for a `NOTIFY` sent by each write is the later fit).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import URL

from reconciler.store.engine import sqlite_file, to_url
from reconciler.store.filewatch import FileWatch

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.05  # seconds between two reads of the token
# With a watch of the store's files (inotify): seconds between two reads of data_version
# when no write of them was seen, should one ever be missed.
SAFETY_POLL = 1.0
WATCH_FILES = True  # watch the store's files where the OS can (tests turn it off)
FALLBACK_PERIOD = 5.0  # seconds between two "maybe changed" of PeriodicDetector


class ChangeDetector(Protocol):
    """Says whether the store may have been written by another connection since last asked."""

    def changed(self) -> bool:
        """True once per change seen since the previous call (or since opening); never blocks."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds until `changed()` would be True; returns it (consumed)."""
        ...

    def close(self) -> None:
        """Release the detector's connection; a `wait` in progress returns False."""
        ...


class TokenDetector:
    """Polls a cheap token; a different value than last time means a write happened.

    The token is read when the detector opens, so only later writes count. Read
    it before listing the store: a write during the list then shows next time.
    """

    def __init__(self, read: Callable[[], Hashable], interval: float = POLL_INTERVAL) -> None:
        self._read = read
        self._interval = interval
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._last = read()

    def changed(self) -> bool:
        with self._lock:
            if self._closed.is_set():
                return False
            token = self._read()
            if token == self._last:
                return False
            self._last = token
            return True

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._closed.is_set():
            if self.changed():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._closed.wait(min(self._interval, left))
        return False

    def close(self) -> None:
        self._closed.set()


class DataVersionPoller:
    """SQLite's `PRAGMA data_version` of one store file, read by one thread for the process.

    Every consumer of the process (the data plane's feed, the request listener, the
    cache follower, the API's watch hub) subscribes a `DataVersionDetector`; the
    poller reads the value on its one connection and raises each subscriber's own
    flag when it moved, so four consumers cost one read, not four. It reads when
    the store's files were written (`reconciler.store.filewatch`: inotify, at once,
    then not again for `POLL_INTERVAL`, so a burst of commits is one read per
    interval) and every `SAFETY_POLL` seconds anyway; without a watch, every
    `interval` (the smallest its subscribers asked for). A subscriber asking
    `changed()` reads it too, at once: a commit is never reported later than asked.
    """

    def __init__(self, path: str) -> None:
        # Autocommit (isolation_level None): each PRAGMA runs outside any transaction, so
        # the connection never holds a read snapshot that would pin the WAL. mode=rw: a
        # missing store is an error here, never an empty file created by a watcher.
        uri = Path(path).resolve().as_uri() + "?mode=rw"
        self._conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                     check_same_thread=False)
        self._lock = threading.Lock()  # the connection, `_last` and the subscribers
        self._subscribers: dict[DataVersionDetector, float] = {}  # -> its interval
        self._last = self._read()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        # In place before the first subscriber returns: no write after it goes unseen.
        self._watch = FileWatch.open(path) if WATCH_FILES else None

    def _read(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def poll(self) -> None:
        """Read the value now; when it moved, flag every subscriber (under the lock, so a
        subscriber that polls after a commit always finds its flag raised)."""
        with self._lock:
            if self._stopped.is_set():
                return
            token = self._read()
            if token == self._last:
                return
            self._last = token
            for subscriber in self._subscribers:
                subscriber.fire()

    def subscribe(self, subscriber: DataVersionDetector, interval: float) -> None:
        """Add `subscriber`; only commits after this call fire it."""
        with self._lock:
            # Bring the baseline up to date first: a commit the thread has not read yet
            # fires the subscribers already there, not the new one.
            token = self._read()
            if token != self._last:
                self._last = token
                for existing in self._subscribers:
                    existing.fire()
            self._subscribers[subscriber] = interval
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-changes",
                                                daemon=True)
                self._thread.start()

    def unsubscribe(self, subscriber: DataVersionDetector) -> bool:
        """Remove `subscriber`; True when none is left (the poller then stops)."""
        with self._lock:
            self._subscribers.pop(subscriber, None)
            if self._subscribers:
                return False
            self._stopped.set()
            self._conn.close()
            return True

    def _interval(self) -> float:
        with self._lock:
            return min(self._subscribers.values(), default=POLL_INTERVAL)

    def _run(self) -> None:
        watch = self._watch
        try:
            while not self._stopped.is_set():
                if watch is None:
                    if self._stopped.wait(self._interval()):
                        return
                else:
                    watch.wait(SAFETY_POLL)
                    if self._stopped.is_set():
                        return
                try:
                    self.poll()
                except sqlite3.Error as e:
                    # A store that cannot be read now: "maybe changed" to everyone, whose
                    # own reads then meet the error and handle it; not again before a second.
                    log.warning("reading the store's data_version failed: %s", e)
                    with self._lock:
                        for subscriber in self._subscribers:
                            subscriber.fire()
                    self._stopped.wait(1.0)
                if watch is not None:  # a burst of commits: one read per POLL_INTERVAL
                    self._stopped.wait(min(self._interval(), POLL_INTERVAL))
        finally:
            if watch is not None:
                watch.close()  # here, not by `unsubscribe`: this thread may be polling it


_POLLERS: dict[str, DataVersionPoller] = {}
_POLLERS_LOCK = threading.Lock()


class DataVersionDetector:
    """One subscriber of the process's `DataVersionPoller` of a SQLite store file.

    Each has its own flag: every subscriber sees each change once, and closing one
    leaves the others as they were. The poller (its connection and thread) lives
    while it has subscribers.
    """

    def __init__(self, path: str, interval: float = POLL_INTERVAL) -> None:
        self._cond = threading.Condition()
        self._fired = False
        self._closed = False
        key = str(Path(path).resolve())
        with _POLLERS_LOCK:
            poller = _POLLERS.get(key)
            if poller is None:
                poller = _POLLERS[key] = DataVersionPoller(path)
            poller.subscribe(self, interval)
        self._key = key
        self.poller = poller

    def fire(self) -> None:
        """The poller saw a commit (or could not read): the next `changed`/`wait` says so."""
        with self._cond:
            self._fired = True
            self._cond.notify_all()

    def _take(self) -> bool:
        # The caller holds `_cond`.
        fired = self._fired and not self._closed
        self._fired = False
        return fired

    def changed(self) -> bool:
        if self._closed:
            return False
        self.poller.poll()
        with self._cond:
            return self._take()

    def wait(self, timeout: float) -> bool:
        if self.changed():
            return True
        with self._cond:
            self._cond.wait_for(lambda: self._fired or self._closed, timeout)
            return self._take()

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        with _POLLERS_LOCK:
            if self.poller.unsubscribe(self) and _POLLERS.get(self._key) is self.poller:
                del _POLLERS[self._key]


class PeriodicDetector:
    """Says "maybe changed" every `period` seconds: a timed relist where no signal exists."""

    def __init__(self, period: float = FALLBACK_PERIOD) -> None:
        self._period = period
        self._closed = threading.Event()
        self._next = time.monotonic() + period

    def changed(self) -> bool:
        if self._closed.is_set() or time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + self._period
        return True

    def wait(self, timeout: float) -> bool:
        left = self._next - time.monotonic()
        if left > timeout:
            self._closed.wait(timeout)
            return False
        self._closed.wait(max(left, 0.0))
        return self.changed()

    def close(self) -> None:
        self._closed.set()


def detector_for(url: str | URL, *, interval: float = POLL_INTERVAL) -> ChangeDetector:
    """The cheapest detector the store's database offers (a store's `engine.url` or its path)."""
    parsed = url if isinstance(url, URL) else to_url(url)
    path = sqlite_file(parsed)
    if path is not None:
        return DataVersionDetector(str(path), interval)
    return PeriodicDetector()


FEED_CHANNEL = "reconciler_feed"  # what the triggers of migration 0008 NOTIFY on PostgreSQL
ALL = "*"  # a payload meaning "anything may have changed" (the connection was lost)


class ListenDetector:
    """PostgreSQL: a connection kept open in `LISTEN channel`; each `NOTIFY` is a change.

    The writer's triggers notify in its transaction, so the signal arrives at its
    commit, never before. Payloads (the topics of migration 0008) are kept for
    `topics()`. A lost connection counts as a change of everything (notifications
    may have been missed meanwhile); the next `wait` connects again.
    """

    def __init__(self, url: URL, channel: str = FEED_CHANNEL) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._topics: set[str] = set()
        self._signal = False  # a notification not yet reported by `wait`/`changed`
        self._conn: Any = None
        self._connect()

    def _connect(self) -> None:
        import psycopg

        conn = psycopg.connect(self._conninfo, autocommit=True)
        conn.execute(f'LISTEN "{self._channel}"'.encode())
        self._conn = conn

    def changed(self) -> bool:
        return self.wait(0.0)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._closed.is_set():
            with self._lock:
                if self._signal or self._poll(min(max(deadline - time.monotonic(), 0.0), 1.0)):
                    self._signal = False
                    return True
            if time.monotonic() >= deadline:
                return False
        return False

    def _poll(self, timeout: float) -> bool:
        """Read notifications for up to `timeout` seconds (the lock held); True when any."""
        import psycopg

        try:
            if self._conn is None:
                self._connect()
                self._note(ALL)
                return True
            for note in self._conn.notifies(timeout=timeout, stop_after=1):
                self._note(note.payload)
            # Take whatever else arrived with it: one wake-up per burst of commits.
            for note in self._conn.notifies(timeout=0, stop_after=1000):
                self._note(note.payload)
        except psycopg.Error:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._note(ALL)
            self._closed.wait(min(timeout, 1.0))
        return self._signal

    def _note(self, payload: str) -> None:
        self._topics.add(payload or ALL)
        self._signal = True

    def topics(self) -> set[str]:
        """The topics notified since the last call ({ALL} after a reconnect); clears them."""
        with self._lock:
            found, self._topics = self._topics, set()
        return found

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
