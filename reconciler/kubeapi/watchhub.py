"""One change detector per store and process, turning store writes into watch events.

Used by `reconciler.kubeapi.watch`: each watch stream subscribes to the `Hub` of
its store (`hub_for(ctx)`) for one resource. The hub's thread waits on the store's
cheapest change signal (`reconciler.store.changes`: SQLite's `PRAGMA data_version`,
PostgreSQL's LISTEN on the feed channel), with a slow timed relist as a safety net
for writes no signal announces. On a change it relists every resource that has
(or recently had) a watcher, once for all its watchers, and compares with the
previous list by uid and content (every list renews every resourceVersion):
ADDED, MODIFIED, DELETED. A thousand `kubectl get -w` then cost one detector and
one relist per change, not a poll each; kinds read from pods and objects alone are
relisted only when the store revision moved. A hub nobody watched for `LINGER`
seconds ends its thread and closes its connection.

Each tracked resource keeps a bounded history of events, in resourceVersion
order, so a watch can resume from a resourceVersion it was given earlier. What
the history no longer holds (older than its `floor`: before the hub started
tracking, evicted, or from before a restart of the service) is answered with
410 Gone, and the client relists. The events of one relist carry its store
revision (`reconciler.kubeapi.objects`), or one more than the previous events'
when the store revision did not move (nodes, events and claims do not bump it);
such made-up versions are told to the writes' precondition (versions.py) with the
content they carried, since a later store revision may have the same number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.objects import UNVERSIONED, Entry, observe, read, store_revision
from reconciler.kubeapi.resources import Resource
from reconciler.kubeapi.versions import fingerprint
from reconciler.store.reader import ReadStore

log = logging.getLogger("reconciler.kubeapi")

JSON = dict[str, Any]
SAFETY_PERIOD = 2.0  # seconds between two relists when no change was signalled
# SQLite's data_version moves with every commit of any connection: the timed relist is
# only a guard there, not the way changes are found.
SQLITE_SAFETY_PERIOD = 30.0
HISTORY = 2000  # events kept per resource for watches that resume
LINGER = 300.0  # seconds a resource stays tracked after its last watcher left
MIN_GAP = 0.1  # seconds between two relists
# How long a new watch waits for the detector to connect before it is answered 503, and
# how long the detector's connection may take (a database that never answers).
START_WAIT = 15.0
CONNECT_TIMEOUT = 10
# Kinds listed from the pods and objects tables alone, whose writes bump the store
# revision (`reconciler.kubeapi.objects`). Others (nodes, events, claims, endpoints,
# services with their allocations) are relisted on every signal.
BY_REVISION = frozenset({
    "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
    "ConfigMap", "Secret", "ReplicationController",
})


def rv_of(obj: JSON) -> int:
    """The object's resourceVersion as a number (0 when it has none)."""
    try:
        return int(obj.get("metadata", {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def _key(obj: JSON) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


def _at(entry: Entry, rv: int) -> Entry:
    """`entry` with its object stamped with the resourceVersion of the event carrying it."""
    obj = entry.obj
    return Entry(entry.row, {**obj, "metadata": {**obj.get("metadata", {}),
                                                  "resourceVersion": str(rv)}})


@dataclass(frozen=True)
class Change:
    """One event of a resource: its position, type, object, and the object before it."""

    seq: int  # position in the resource's history, dense, from 1
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    entry: Entry  # the object, and its row for clients that watch as a Table
    before: JSON | None  # the previous object (MODIFIED, DELETED): selectors may drop it

    @property
    def obj(self) -> JSON:
        return self.entry.obj


Listed = dict[tuple[str, str], tuple[str, Entry]]  # (namespace, name) -> (fingerprint, entry)
Found = tuple[str, Entry, JSON | None]  # (type, entry, the object before)


def listed(found: list[Entry]) -> Listed:
    """A list keyed for `diff`."""
    return {_key(e.obj): (fingerprint(e.obj), e) for e in found}


def diff(old: Listed, new: Listed) -> list[Found]:
    """The events (type, entry, object before) that turn list `old` into list `new`.

    By uid and content: the store's resourceVersion is one revision for a whole list,
    so it changes without any change of the object (see `reconciler.kubeapi.objects`).
    The rows are not compared: their AGE moves with the clock.
    """
    found: list[Found] = []
    for key, (print_, entry) in new.items():
        prev = old.get(key)
        if prev is None:
            found.append(("ADDED", entry, None))
        elif prev[1].obj.get("metadata", {}).get("uid") != entry.obj.get("metadata", {}).get(
                "uid"):
            found.append(("DELETED", prev[1], prev[1].obj))
            found.append(("ADDED", entry, None))
        elif prev[0] != print_:
            found.append(("MODIFIED", entry, prev[1].obj))
    found.extend(("DELETED", prev[1], prev[1].obj) for key, prev in old.items()
                 if key not in new)
    return found


@dataclass
class Tracked:
    """One resource the hub relists: its last list, its history, its waiting watchers."""

    resource: Resource
    objects: Listed
    last_rv: int  # the newest version a client of this resource was given
    floor: int  # every event with an rv above this is in `history`
    history: deque[Change] = field(default_factory=lambda: deque(maxlen=HISTORY))
    seq: int = 0
    waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=set)
    idle_since: float = 0.0
    revision: int = -1  # the store revision of the last list

    def record(self, events: list[Found], list_rv: int) -> None:
        """Append one relist's events, all at one version above every earlier one."""
        if not events:
            self.last_rv = max(self.last_rv, list_rv)
            return
        # Nodes, events and claims change without a new store revision: their events
        # still need a version of their own, or a client resuming from the previous
        # one would skip them.
        rv = max(list_rv, self.last_rv + 1)
        for type_, entry, before in events:
            if len(self.history) == self.history.maxlen:
                self.floor = max(self.floor, self.history[0].rv)
            self.seq += 1
            self.history.append(Change(self.seq, rv, type_, _at(entry, rv), before))
        self.last_rv = rv


class HubUnavailable(RuntimeError):
    """The store's change signal could not be listened to (in START_WAIT): no watch."""


class _Starting(threading.Event):
    """Set once the detector thread listens, or failed to connect (`error`)."""

    error: Exception | None = None

    def fail(self, error: Exception) -> None:
        self.error = error
        self.set()


class Hub:
    """The change detector and the tracked resources of one store, in one thread."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()  # the tracked state; never held during a relist
        self._relisting = threading.Lock()
        self._tracked: dict[tuple[str, str, str], Tracked] = {}
        self._detector: Any = None
        self._thread: threading.Thread | None = None
        self._starting = _Starting()
        self._closed = threading.Event()
        self._safety = SAFETY_PERIOD
        self._keep_store = "://" in ctx.state and not ctx.state.startswith("sqlite")
        self._kept: ReadStore | None = None

    def _open(self) -> ReadStore | None:
        """The store for one relist round (the caller holds `_relisting`)."""
        if not self._keep_store:
            return self.ctx.open_store()
        # Opening a PostgreSQL store costs a new engine (~0.1 s): one serves every round.
        if self._kept is None:
            self._kept = self.ctx.open_store()
        return self._kept

    def _done(self, store: ReadStore | None) -> None:
        if store is not None and store is not self._kept:
            store.close()

    def _drop_kept(self) -> None:
        with self._relisting:
            self._drop_kept_locked()

    def _drop_kept_locked(self) -> None:
        if self._kept is not None:
            with contextlib.suppress(Exception):
                self._kept.close()
            self._kept = None

    def _revision(self, store: ReadStore | None) -> int | None:
        return store_revision(store) if store is not None else None

    def _list(self, resource: Resource, store: ReadStore | None = None) -> tuple[Listed, int]:
        found = read(self.ctx, resource, None, store=store, record=False)
        objects, rv = listed(found.entries), int(found.rv or 0)
        # As served, for the writes' precondition (a read the store moved under is
        # forgotten there by `read` itself).
        if resource.kind not in UNVERSIONED and found.settled:
            observe(self.ctx, resource.kind, [(e.obj, p) for p, e in objects.values()], rv)
        return objects, rv

    def _made_up(self, tracked: Tracked, rv: int, given: list[Entry] | None = None) -> None:
        """Objects of `tracked` (`given`: those) given out at `rv`, when no store revision
        is `rv` (yet): a later revision of that number must not vouch for them to a write."""
        if rv <= tracked.revision or tracked.resource.kind in UNVERSIONED:
            return
        keys = None if given is None else {_key(e.obj) for e in given}
        observe(self.ctx, tracked.resource.kind,
                [(e.obj, p) for k, (p, e) in tracked.objects.items()
                 if keys is None or k in keys], rv, made_up=True)

    def track(self, resource: Resource) -> Tracked:
        """The resource's tracking state, listing it now if it was not tracked yet."""
        ident = (resource.group, resource.version, resource.plural)
        with self._lock:
            starting = self._start()
        # The detector listens before the first list: a write during it shows next. Its
        # connection is made by the hub's thread, never under `_lock`, which every watcher
        # takes, nor waited for under `_relisting`: a slow or unreachable database would
        # stall them all. A database that never answers is given up on (START_WAIT).
        if not starting.wait(START_WAIT):
            raise HubUnavailable(f"the store's change signal did not answer in "
                                 f"{START_WAIT:.0f} s")
        if starting.error is not None:
            raise HubUnavailable(f"the store's change signal: {starting.error}"
                                 ) from starting.error
        with self._relisting:
            with self._lock:
                found = self._tracked.get(ident)
            if found is None:
                objects, list_rv = self._list(resource)
                found = Tracked(resource, objects, last_rv=list_rv, floor=list_rv,
                                revision=list_rv)
            with self._lock:
                self._tracked[ident] = found
                found.idle_since = time.monotonic()  # not forgotten before its subscriber
                self._start()  # the thread may have ended for want of resources meanwhile
            return found

    def subscribe(self, tracked: Tracked, waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event]
                  ) -> None:
        with self._lock:
            tracked.waiters.add(waiter)

    def unsubscribe(self, tracked: Tracked,
                    waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            tracked.waiters.discard(waiter)
            if not tracked.waiters:
                tracked.idle_since = time.monotonic()

    def since(self, tracked: Tracked, seq: int) -> tuple[list[Change], int]:
        """The events after position `seq`, and the list version they bring a client to."""
        with self._lock:
            return [c for c in tracked.history if c.seq > seq], tracked.last_rv

    def snapshot(self, tracked: Tracked) -> tuple[int, list[Entry], int]:
        """(history position, the objects now, their version), taken together."""
        with self._lock:
            rv = tracked.last_rv
            self._made_up(tracked, rv)
            return tracked.seq, [_at(e, rv) for _, e in tracked.objects.values()], rv

    def position(self, tracked: Tracked, version: int) -> int:
        """The history position a watch from `version` streams after.

        LookupError(oldest version known) when the history no longer reaches back to it.
        """
        with self._lock:
            # Beyond the newest version given out: a version of another process (before a
            # restart of the service) that this history cannot place.
            if version < tracked.floor or version > tracked.last_rv:
                raise LookupError(tracked.floor)
            after = [c.seq for c in tracked.history if c.rv > version]
            return min(after) - 1 if after else tracked.seq

    def _start(self) -> _Starting:
        """The detector thread's start (begun now if none runs); the caller holds `_lock`.

        Only the thread starts here: it connects the detector itself, outside the lock.
        """
        if self._thread is None:
            self._starting = _Starting()
            self._thread = threading.Thread(target=self._run, args=(self._starting,),
                                            name="kubeapi watch", daemon=True)
            self._thread.start()
        return self._starting

    def _connect(self) -> Any:
        """The store's change detector: LISTEN on PostgreSQL, data_version on SQLite."""
        from reconciler.store.changes import (
            FEED_CHANNEL,
            DataVersionDetector,
            ListenDetector,
            detector_for,
        )
        from reconciler.store.engine import to_url

        url = to_url(self.ctx.state)
        if url.get_backend_name() == "postgresql":
            if "connect_timeout" not in url.query:
                url = url.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
            return ListenDetector(url, FEED_CHANNEL)
        detector = detector_for(url)
        if isinstance(detector, DataVersionDetector):
            self._safety = SQLITE_SAFETY_PERIOD
        return detector

    def _run(self, starting: _Starting) -> None:
        try:
            detector = self._connect()
        except Exception as exc:  # told to the watches waiting on it; the next one retries
            with self._lock:
                self._thread = None
            starting.fail(exc)
            return
        with self._lock:
            self._detector = detector
        starting.set()
        try:
            if not self._closed.is_set():
                self._loop(detector)
        finally:
            detector.close()
            self._drop_kept()

    def _loop(self, detector: Any) -> None:
        while not self._closed.is_set():
            # Either way a relist: a signal says "something changed", and its absence for
            # SAFETY_PERIOD covers writes that no signal announces (PostgreSQL notifies
            # only what the proxies read).
            with contextlib.suppress(Exception):
                detector.wait(self._safety)
            if self._closed.is_set():
                return
            try:
                self.refresh()
            except Exception:  # a store briefly unreadable: the next round retries
                log.exception("watch: relisting the store failed")
                self._closed.wait(SAFETY_PERIOD)
            # A burst of commits (a rollout) is one relist, not one per commit.
            self._closed.wait(MIN_GAP)
            with self._lock:
                if not self._tracked:
                    # Nobody watched for LINGER seconds: no thread and no connection
                    # until the next watch (`track` starts them again).
                    self._thread = self._detector = None
                    return

    def refresh(self, only: Tracked | None = None) -> None:
        """Relist every tracked resource (or `only` one); record and announce what changed.

        A kind read from pods and objects alone is relisted only when the store revision
        moved: node heartbeats then cost one read of the revision, not a list of every pod.
        """
        with self._lock:
            now = time.monotonic()
            for ident, t in list(self._tracked.items()):
                if not t.waiters and now - t.idle_since > LINGER:
                    del self._tracked[ident]
            tracked = [only] if only is not None else list(self._tracked.values())
        if not tracked:
            return
        # One relist at a time: an older list recorded after a newer one would undo it.
        with self._relisting:
            store = self._open()
            try:
                revision = self._revision(store)
                for t in tracked:
                    if (revision is not None and revision == t.revision
                            and t.resource.kind in BY_REVISION):
                        continue
                    objects, list_rv = self._list(t.resource, store)
                    with self._lock:
                        events = diff(t.objects, objects)
                        t.objects = objects
                        t.record(events, list_rv)
                        t.revision = list_rv
                        self._made_up(t, t.last_rv, [e for _, e, _ in events])
                        waiters = list(t.waiters)
                    for loop, event in waiters:
                        with contextlib.suppress(RuntimeError):  # that loop has closed
                            loop.call_soon_threadsafe(event.set)
            except Exception:
                self._drop_kept_locked()  # a broken connection: a new store next round
                raise
            finally:
                self._done(store)

    def close(self) -> None:
        self._closed.set()
        if self._detector is not None:
            self._detector.close()


_HUBS: dict[tuple[str, bool, str], Hub] = {}
_HUBS_LOCK = threading.Lock()


def hub_for(ctx: ApiContext) -> Hub:
    """The one hub of `ctx`'s store in this process."""
    with _HUBS_LOCK:
        # The lists are shared by the watchers of one hub: a context that shows Secrets'
        # data differently needs its own.
        key = (ctx.state, ctx.show_secret_data, str(ctx.key_file))
        hub = _HUBS.get(key)
        if hub is None:
            hub = _HUBS[key] = Hub(ctx)
        return hub
