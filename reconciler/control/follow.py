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
    ) -> None:
        self.cache = cache
        self.detector = detector
        self.list_all = list_all
        self.resync = resync
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

    def _relist(self) -> None:
        changes = self.cache.relist(self.list_all)
        self.relists += 1
        if changes:
            log.debug("relist: %d changes, resource version %d", changes,
                      self.cache.resource_version)

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
            if not (fired or retry or time.monotonic() >= next_resync):
                continue
            try:
                self._relist()
            except Exception:
                log.exception("relisting the store failed; retrying")
                retry = True
                self._stop.wait(_RETRY)
                continue
            retry = False
            next_resync = time.monotonic() + self.resync


def follow(store: Store, *, resync: float = DEFAULT_RESYNC) -> Follower:
    """A started follower of `store` into a new cache, with its database's cheapest detector."""
    follower = Follower(Cache(), detector_for(store.engine.url), lister(store), resync=resync)
    follower.start()
    return follower
