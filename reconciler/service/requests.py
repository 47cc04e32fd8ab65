"""`reconciler sync` and `delete` to the active instance, wherever it runs: a request row.

Both halves of a request through the store (`reconciler.store.requests`). The CLI
half, `request_sync(state)`, adds a row when some instance holds the lease (by the
database's clock) and says which one was asked; the service half,
`RequestListener`, runs in the active instance, waits on the store's signal for
new rows (SQLite's `data_version`, PostgreSQL's LISTEN, both cheap) and calls back
once per burst. The active instance may be on another machine than the CLI: only
the store is shared. With no live lease (a store no instance serves, or a local
service still in its first pass) the CLI falls back to the local pid file and
SIGUSR1 (`reconciler.sources.trigger`), and fails as it did when there is none.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.sources.trigger import SyncError
from reconciler.sources.trigger import request_sync as signal_local

if TYPE_CHECKING:
    from reconciler.store import Store
    from reconciler.store.changes import ChangeDetector

log = logging.getLogger("reconciler.service")

SAFETY_CHECK = 10.0  # seconds between two reads of pending rows with no signal (a lost NOTIFY)
POLL = 0.1  # seconds between two reads of a request the CLI waits for
RESYNC = "resync"  # a request for the periodic resync now (no `reconciler` command sends it)

__all__ = ["RESYNC", "RequestListener", "SyncError", "request_sync"]


def request_sync(state: str, kind: str = "sync", wait: float = 0.0) -> str:
    """Ask the active instance for a look at everything now (and a git fetch): whom we asked.

    Through the store when an instance holds the lease ("instance HOLDER"), waiting up
    to `wait` seconds for it to take the request; else by signal to a local service
    ("pid N"). Raises SyncError when there is neither.
    """
    asked = _through_store(state, kind, wait)
    if asked:
        return asked
    return f"pid {signal_local(state)}"


def _through_store(state: str, kind: str, wait: float) -> str:
    from reconciler.store import Store, StoreMissing

    try:
        store = Store.open(state, create=False)
    except StoreMissing:
        return ""
    try:
        holder = store.active_holder()
        if not holder:
            return ""
        request = store.add_request(kind, f"{socket.gethostname()}:{os.getpid()}")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            found = store.get_request(request)
            if found is None or found.handled_by:
                holder = found.handled_by if found is not None else holder
                return f"instance {holder} (taken)"
            time.sleep(POLL)
        return f"instance {holder}"
    finally:
        store.close()


class RequestListener:
    """The service half: takes pending requests and calls `on_request` once per burst.

    `on_request` runs on the listener's own thread. A burst of only `resync` requests
    (RESYNC: the periodic resync's work, now; what the steady-state benchmark asks
    for, as `sync` bypasses what a periodic pass may skip) calls `on_resync` instead,
    when given. A store that fails (restarting, unreachable) is retried every second
    with a new signal connection; requests made meanwhile wait in the store and are
    taken once it answers.
    """

    def __init__(self, store: Store, holder: str, on_request: Callable[[], None],
                 on_resync: Callable[[], None] | None = None) -> None:
        self.store = store
        self.holder = holder
        self.on_request = on_request
        self.on_resync = on_resync
        self.taken = 0
        self._stop = threading.Event()
        self._detector: ChangeDetector | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RequestListener:
        self._thread = threading.Thread(target=self._run, name="requests", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        detector = self._detector
        if detector is not None:
            detector.close()  # a wait in progress returns at once
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        checked = 0.0
        while not self._stop.is_set():
            try:
                if self._detector is None:
                    self._detector = self.store.requests_detector()
                    fired = True  # anything asked before we listened
                else:
                    fired = self._detector.wait(1.0)
                # The SQLite signal fires on every commit (ours too): read the pending
                # count only when signalled, and now and then in case a signal was lost.
                if not fired and time.monotonic() - checked < SAFETY_CHECK:
                    continue
                checked = time.monotonic()
                if self.store.pending_requests() == 0:
                    continue
                taken = self.store.take_requests(self.holder)
            except Exception as e:  # store restarting or lease lost: the lease thread decides
                log.warning("requests not read: %s", str(e).split("\n")[0])
                if self._detector is not None:
                    self._detector.close()
                    self._detector = None
                self._stop.wait(1.0)
                continue
            if not taken:
                continue
            self.taken += len(taken)
            log.info("requests taken: %s", ", ".join(
                f"{r.kind} from {r.requested_by}" for r in taken))
            periodic = self.on_resync is not None and all(r.kind == RESYNC for r in taken)
            try:
                (self.on_resync if periodic and self.on_resync else self.on_request)()
            except Exception:
                log.exception("request handler failed")
