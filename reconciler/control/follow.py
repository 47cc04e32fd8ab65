"""Keeps the cache equal to the store: one list at start, a relist when someone else wrote.

The reflector of `reconciler.control.cache` (client-go's Reflector plays this
part for an informer): `Follower.start()` lists the store once, then a thread
waits on a `reconciler.store.changes.ChangeDetector` and relists when it fires,
and in any case every `resync` seconds, so a missed signal costs a resync
period at worst. Writes of this process reach the cache by write-through
(the cache's upsert/delete methods, called after each commit); the follower
is for the writes of other processes: the CLI, other hosts' agents. The
database's signal also fires for this process's own commits; the store's
revision row (`StoreBase.foreign_writes`) tells them apart exactly, so a
service that only writes itself (heartbeats, status) never relists for them.
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
    """Relists `cache` from `list_all` when another writer committed, and every `resync` seconds."""

    def __init__(
        self, cache: Cache, detector: ChangeDetector, list_all: Lister, *,
        resync: float = DEFAULT_RESYNC,
        foreign_writes: Callable[[], bool] | None = None,
        on_relisted: Callable[[], object] | None = None,
    ) -> None:
        self.cache = cache
        # Called after a relist (not the first) that changed the cache: another process
        # wrote, and a reconcile that read the cache before the relist may have missed it.
        self.on_relisted = on_relisted
        self.detector = detector
        self.list_all = list_all
        self.resync = resync
        # `Store.foreign_writes`: asked when the detector fires (SQLite's signal fires for
        # this process's own commits too, which are already written through): relist only
        # when another writer committed. None: every signal relists.
        self.foreign_writes = foreign_writes
        self.relists = 0  # how many relists ran (start's included)
        self.signals = 0  # how many times the detector fired
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """List once (the cache is synced when this returns), then follow in a thread."""
        self._baseline()
        self._relist()
        self._thread = threading.Thread(target=self._run, name="cache-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.detector.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def relist_now(self) -> int:
        """Relist at once, on the caller's thread (`reconciler sync`): whatever a lost signal
        kept from the cache is in it when this returns; the change count."""
        self._baseline()
        return self._relist()

    def _relist(self) -> int:
        changes = self.cache.relist(self.list_all)
        self.relists += 1
        if changes:
            log.debug("relist: %d changes, resource version %d", changes,
                      self.cache.resource_version)
        return changes

    def _baseline(self) -> None:
        # Read before listing: a foreign commit during the list shows as new next time.
        if self.foreign_writes is not None:
            self.foreign_writes()

    def _foreign(self) -> bool:
        try:
            return self.foreign_writes is None or self.foreign_writes()
        except Exception:
            log.warning("reading the store revision failed; relisting", exc_info=True)
            return True

    def _run(self) -> None:
        next_resync = time.monotonic() + self.resync
        retry = False
        while not self._stop.is_set():
            timeout = max(0.0, min(_TICK, next_resync - time.monotonic()))
            started = time.monotonic()
            fired = self.detector.wait(timeout)
            if self._stop.is_set():
                return
            if not fired and timeout and time.monotonic() - started < timeout / 2:
                # A closed or broken detector answers at once: do not spin on it.
                self._stop.wait(timeout)
            if fired:
                self.signals += 1
            foreign = fired and self._foreign()
            if not (foreign or retry or time.monotonic() >= next_resync):
                continue
            try:
                self._baseline()
                if self._relist() and self.on_relisted is not None:
                    self.on_relisted()
            except Exception:
                log.exception("relisting the store failed; retrying")
                retry = True
                self._stop.wait(_RETRY)
                continue
            retry = False
            next_resync = time.monotonic() + self.resync


def follow(
    store: Store, *, resync: float = DEFAULT_RESYNC, cache: Cache | None = None,
    own_writes: bool = False, on_relisted: Callable[[], object] | None = None,
) -> Follower:
    """A started follower of `store` into `cache` (default a new one), with its database's
    cheapest detector. `own_writes`: this process writes `store` through to the cache, so
    only other writers' commits (`Store.foreign_writes`) relist."""
    follower = Follower(
        cache or Cache(), detector_for(store.engine.url), lister(store), resync=resync,
        foreign_writes=store.foreign_writes if own_writes else None,
        on_relisted=on_relisted,
    )
    follower.start()
    return follower
