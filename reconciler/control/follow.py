"""Keeps the cache equal to the store: one list at start, a relist when someone else wrote.

The reflector of `reconciler.control.cache` (client-go's Reflector plays this
part for an informer): `Follower.start()` lists the store once, then a thread
waits on a `reconciler.store.changes.ChangeDetector` and relists when it fires,
and in any case every `resync` seconds, so a missed signal costs a resync
period at worst. Writes of this process reach the cache by write-through
(the cache's upsert/delete methods, called after each commit); the follower
is for the writes of other processes: the CLI, other hosts' agents.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from reconciler.api.records import PodRecord
from reconciler.control.cache import Cache
from reconciler.store import Store
from reconciler.store.changes import ChangeDetector, detector_for
from reconciler.store.records import ObjectRecord

log = logging.getLogger(__name__)

DEFAULT_RESYNC = 300.0
# At most one relist this often for signals that may be this process's own commits.
DEFAULT_OWN_INTERVAL = 5.0
# The thread wakes at least this often to notice stop() and a due resync.
_TICK = 1.0
# After a failed relist (store busy, connection lost), wait this long before retrying.
_RETRY = 1.0

Lister = Callable[[], tuple[Iterable[ObjectRecord], Iterable[PodRecord]]]


class Listable(Protocol):
    """The two reads a relist needs; `reconciler.store.Store` has them."""

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[ObjectRecord]:
        ...

    def list_pods(self, namespace: str | None = None) -> list[PodRecord]: ...


def lister(store: Listable) -> Lister:
    """A full list of `store`: every object and every pod."""
    return lambda: (store.objects(), store.list_pods())


class Follower:
    """Relists `cache` from `list_all` whenever `detector` fires, and every `resync` seconds."""

    def __init__(
        self, cache: Cache, detector: ChangeDetector, list_all: Lister, *,
        resync: float = DEFAULT_RESYNC,
        own_commits: Callable[[], int] | None = None,
        own_interval: float = DEFAULT_OWN_INTERVAL,
        on_relisted: Callable[[], object] | None = None,
    ) -> None:
        self.cache = cache
        # Called after a relist (not the first) that changed the cache: another process
        # wrote, and a reconcile that read the cache before the relist may have missed it.
        self.on_relisted = on_relisted
        self.detector = detector
        self.list_all = list_all
        self.resync = resync
        # This process's commit count (`Store.own_commits`): a signal with no own commit
        # since the previous one is someone else's write (relisted at once); one that may
        # be our own write (already written through) relists at most every `own_interval`
        # seconds, in case another process wrote in the same moment.
        self.own_commits = own_commits
        self.own_interval = own_interval
        self.relists = 0  # how many relists ran (start's included)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """List once (the cache is synced when this returns), then follow in a thread."""
        self._relist()
        self._thread = threading.Thread(target=self._run, name="cache-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.detector.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _relist(self) -> int:
        changes = self.cache.relist(self.list_all)
        self.relists += 1
        if changes:
            log.debug("relist: %d changes, resource version %d", changes,
                      self.cache.resource_version)
        return changes

    def _own(self) -> int:
        return self.own_commits() if self.own_commits is not None else 0

    def _run(self) -> None:
        next_resync = time.monotonic() + self.resync
        retry = False
        last_own = self._own()
        maybe_own_since: float | None = None  # a signal that may be ours waits until then
        last_relist = time.monotonic()
        while not self._stop.is_set():
            due = next_resync
            if maybe_own_since is not None:
                due = min(due, last_relist + self.own_interval)
            timeout = max(0.0, min(_TICK, due - time.monotonic()))
            started = time.monotonic()
            fired = self.detector.wait(timeout)
            if self._stop.is_set():
                return
            if not fired and timeout and time.monotonic() - started < timeout / 2:
                # A closed or broken detector answers at once: do not spin on it.
                self._stop.wait(timeout)
            foreign = False
            if fired:
                own = self._own()
                if self.own_commits is None or own == last_own:
                    foreign = True
                else:
                    last_own = own
                    maybe_own_since = maybe_own_since or time.monotonic()
            now = time.monotonic()
            bounded = maybe_own_since is not None and now >= last_relist + self.own_interval
            if not (foreign or retry or bounded or now >= next_resync):
                continue
            # Read before listing: a commit during the list shows as new next time.
            last_own = self._own()
            maybe_own_since = None
            try:
                if self._relist() and self.on_relisted is not None:
                    self.on_relisted()
            except Exception:
                log.exception("relisting the store failed; retrying")
                retry = True
                self._stop.wait(_RETRY)
                continue
            retry = False
            last_relist = time.monotonic()
            next_resync = last_relist + self.resync


def follow(
    store: Store, *, resync: float = DEFAULT_RESYNC, cache: Cache | None = None,
    own_writes: bool = False, own_interval: float = DEFAULT_OWN_INTERVAL,
    on_relisted: Callable[[], object] | None = None,
) -> Follower:
    """A started follower of `store` into `cache` (default a new one), with its database's
    cheapest detector. `own_writes`: this process writes `store` through to the cache, so
    signals that may be its own commits relist at most every `own_interval` seconds."""
    follower = Follower(
        cache or Cache(), detector_for(store.engine.url), lister(store), resync=resync,
        own_commits=(lambda: store.own_commits) if own_writes else None,
        own_interval=own_interval, on_relisted=on_relisted,
    )
    follower.start()
    return follower
