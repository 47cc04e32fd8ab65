"""The control plane's memory: desired objects and pods, indexed, as an informer keeps them.

Sits between the store and every reader in the service (controllers, scheduler,
proxy, DNS). Filled by one list at start (`replace`), written through by the
code that writes the store, after each successful commit (`upsert_pod`,
`patch_pod`, `delete_pod`, `upsert_object`, `delete_object`), and relisted on
resync and when another process wrote the store (`relist`, driven by
`reconciler.control.follow` and `reconciler.store.changes`). The store stays
the only durable truth: nothing writes here without having written the store.

Pods are kept by uid and objects by `Key`, each in an `indexer.Indexer`
(client-go's Indexer): pods by namespace, owner uid, node, `key=value` label
pair and label key; objects by namespace, kind, uid and the label pair their
selector requires. A selector's pods are then set algebra over the indexes
(`pod_uids`), not a scan; `selecting(pod)` answers which controllers and
services select a pod. Per-node usage for the scheduler is summed as pods
come and go (`reconciler.control.usage`). Every change is numbered (the
resource version) and handed to subscribers as a `Change` (the feed the
proxy, DNS and a future watch API use). Readers get copies: nothing they do
to a record changes the cache.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.selectors import Selector
from reconciler.api.types import Key
from reconciler.control.cache_records import (
    BY_KIND,
    BY_LABEL,
    BY_LABEL_KEY,
    BY_NAME,
    BY_NAMESPACE,
    BY_NODE,
    BY_OWNER,
    BY_SELECTS,
    BY_UID,
    PATCH_FIELDS,
    POD,
    copy_object,
    copy_pod,
    object_indexers,
    object_selector,
    pod_indexers,
    select_pods,
    selects_values,
)
from reconciler.control.indexer import Indexer
from reconciler.control.usage import ZERO, Contribution, NodeUsage, UsageTotals, contribution
from reconciler.planning.diff import RecordedView
from reconciler.scheduling.nodeinfo import NodeInfo
from reconciler.store.records import ObjectRecord

log = logging.getLogger(__name__)

__all__ = [
    "BY_KIND", "BY_LABEL", "BY_LABEL_KEY", "BY_NAME", "BY_NAMESPACE", "BY_NODE", "BY_OWNER",
    "BY_SELECTS", "BY_UID", "POD", "Cache", "Change",
]

Record = PodRecord | ObjectRecord


@dataclass(frozen=True)
class Change:
    """One change of the cache: `kind` is "Pod" or the object's kind; `key` a uid or a Key.

    `old` is None for an addition, `new` None for a deletion. `resource_version`
    rises by one per change, in the order subscribers receive them.
    """

    kind: str
    key: str | Key
    old: Record | None
    new: Record | None
    resource_version: int


Subscriber = Callable[[Change], object]


class Cache:
    """The indexed cache; thread-safe (one re-entrant lock), see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pods: Indexer[str, PodRecord] = Indexer(pod_indexers())
        self._selectors: dict[Key, Selector | None] = {}
        self._objects: Indexer[Key, ObjectRecord] = Indexer(object_indexers(self._selectors))
        self._usage = UsageTotals()
        self._contributions: dict[str, Contribution] = {}
        self._resource_version = 0
        # The resource version of each record's last change (pods by uid, objects by Key):
        # a reconcile's inputs in a few integers (`version`, `pod_versions`).
        self._versions: dict[str | Key, int] = {}
        # Write-throughs are numbered so that a relist listed before a write does not
        # undo it (the list is older than what was written through meanwhile).
        self._write_seq = 0
        self._touched: dict[tuple[str, Hashable], int] = {}
        self._subscribers: list[Subscriber] = []
        self._pending: deque[Change] = deque()
        self._deliver_lock = threading.RLock()
        self.synced = False  # True after the first replace(): reads then mean something

    # -- reads -------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._resource_version

    def pod(self, uid: str) -> PodRecord | None:
        with self._lock:
            pod = self._pods.get(uid)
            return None if pod is None else copy_pod(pod)

    def pod_by_name(self, namespace: str, name: str) -> PodRecord | None:
        with self._lock:
            for uid in self._pods.by_index(BY_NAME, f"{namespace}/{name}"):
                return self.pod(uid)
            return None

    def pod_uids(
        self,
        namespace: str | None = None,
        selector: Selector | None = None,
        *,
        node: str | None = None,
        owner_uid: str | None = None,
    ) -> frozenset[str]:
        """The uids of the pods matching every filter given, by intersecting index sets."""
        with self._lock:
            return frozenset(select_pods(self._pods, namespace, selector, node, owner_uid))

    def pods(
        self,
        namespace: str | None = None,
        selector: Selector | None = None,
        *,
        node: str | None = None,
        owner_uid: str | None = None,
        copy: bool = True,
    ) -> list[PodRecord]:
        """Copies of the matching pods, sorted by namespace and name as the store lists them;
        `copy=False`: the cache's own records, for a reader that copies what it changes."""
        with self._lock:
            uids = select_pods(self._pods, namespace, selector, node, owner_uid)
            pods = [copy_pod(p) if copy else p
                    for u in uids if (p := self._pods.get(u)) is not None]
        pods.sort(key=lambda p: (p.namespace, p.name))
        return pods

    def version(self, key: str | Key) -> int:
        """The resource version of the last change of a pod (uid) or object (Key); 0: none."""
        with self._lock:
            return self._versions.get(key, 0)

    def pod_versions(
        self, namespace: str, selector: Selector | None = None, *, owner_uid: str | None = None,
    ) -> frozenset[tuple[str, int]]:
        """(uid, version) of the pods `pods(...)` would return, without copying any: equal
        twice only if none of them changed, came or went in between."""
        with self._lock:
            uids = select_pods(self._pods, namespace, selector, None, owner_uid)
            return frozenset((u, self._versions.get(u, 0)) for u in uids)

    def pods_by_index(self, name: str, value: str) -> list[PodRecord]:
        """client-go's ByIndex over pods: copies of the pods filed under `value` in `name`."""
        with self._lock:
            pods = [copy_pod(p) for u in self._pods.by_index(name, value)
                    if (p := self._pods.get(u)) is not None]
        pods.sort(key=lambda p: (p.namespace, p.name))
        return pods

    def phase_counts(self) -> dict[str, int]:
        """How many pods are in each phase, without copying any (the service's status line)."""
        counts: dict[str, int] = {}
        with self._lock:
            for pod in self._pods.values():
                counts[pod.phase] = counts.get(pod.phase, 0) + 1
        return counts

    def pod_index_keys(self, name: str, value: str) -> frozenset[str]:
        """The uids filed under `value` in pod index `name` (no copies made)."""
        with self._lock:
            return self._pods.by_index(name, value)

    def pod_index_values(self, name: str) -> frozenset[str]:
        """Every value pod index `name` files pods under (client-go's ListIndexFuncValues)."""
        with self._lock:
            return self._pods.index_values(name)

    def object(self, key: Key, *, copy: bool = True) -> ObjectRecord | None:
        """The object of `key`, a copy; `copy=False`: the cache's own record, for a reader
        that only reads it (a resync reads every object, and copying bodies is its cost).
        """
        with self._lock:
            obj = self._objects.get(key)
            if obj is None or not copy:
                return obj
            return copy_object(obj)

    def object_by_uid(self, uid: str) -> ObjectRecord | None:
        """The object with this uid (a pod's owner), or None."""
        with self._lock:
            for key in self._objects.by_index(BY_UID, uid):
                return self.object(key)
            return None

    def objects(self, kind: str | None = None, namespace: str | None = None, *,
                copy: bool = True) -> list[ObjectRecord]:
        """Copies of the objects of one kind and/or namespace, sorted by key as the store does;
        `copy=False`: the cache's own records, for a reader that only reads them."""
        with self._lock:
            keys = self.object_keys(kind, namespace)
            if copy:
                return self._object_copies(keys)
            return [o for k in keys if (o := self._objects.get(k)) is not None]

    def object_keys(self, kind: str | None = None, namespace: str | None = None) -> list[Key]:
        """The keys `objects(kind, namespace)` would return, sorted, without copying bodies."""
        with self._lock:
            keys: Iterable[Key]
            if kind is not None and namespace is not None:
                keys = self._objects.by_index(BY_KIND, kind) & self._objects.by_index(
                    BY_NAMESPACE, namespace)
            elif kind is not None:
                keys = self._objects.by_index(BY_KIND, kind)
            elif namespace is not None:
                keys = self._objects.by_index(BY_NAMESPACE, namespace)
            else:
                keys = self._objects.keys()
            return sorted(keys, key=_order)

    def has_object(self, key: Key) -> bool:
        with self._lock:
            return self._objects.get(key) is not None

    def recorded(self, *, copy: bool = True) -> dict[Key, RecordedView]:
        """Every object as the planner sees it (the store's `recorded()`), bodies copied;
        `copy=False`: the cache's own bodies, for a planner that only reads them."""
        with self._lock:
            if not copy:
                return {k: o.view() for k, o in self._objects.items()}
            return {k: copy_object(o).view() for k, o in self._objects.items()}

    def objects_by_index(self, name: str, value: str) -> list[ObjectRecord]:
        """client-go's ByIndex over objects: copies of the objects filed under `value`."""
        with self._lock:
            return self._object_copies(self._objects.by_index(name, value))

    def selecting(self, pod: PodRecord) -> list[ObjectRecord]:
        """The controllers and services of the pod's namespace whose selector matches it."""
        with self._lock:
            return self._object_copies(self.selecting_keys(pod.namespace, pod.labels))

    def selecting_keys(self, namespace: str, labels: Mapping[str, str]) -> list[Key]:
        """The keys of the objects of `namespace` whose selector matches `labels`, sorted."""
        with self._lock:
            keys: set[Key] = set()
            for value in selects_values(namespace, labels):
                keys |= self._objects.by_index(BY_SELECTS, value)
            return sorted((k for k in keys if (s := self._selectors.get(k)) is not None
                           and s.matches(labels)), key=_order)

    def selector_of(self, key: Key) -> Selector | None:
        """The selector the cache parsed for an object (None: it selects no pods)."""
        with self._lock:
            return self._selectors.get(key)

    def node_usage(self, node: str) -> NodeUsage:
        with self._lock:
            return self._usage.get(node)

    def node_usages(self) -> dict[str, NodeUsage]:
        with self._lock:
            return self._usage.all()

    def node_info(self, node: NodeRecord) -> NodeInfo:
        """The scheduler's view of `node`, from the running totals instead of a sum of pods."""
        return self.node_usage(node.name).node_info(node)

    # -- the feed ----------------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with every later Change, in order; returns the unsubscribe.

        Subscribers run on the writing thread, one change at a time: they should only
        enqueue work (as informers' handlers do), never block on other writers.
        """
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    # -- writes (after a successful store commit only) ----------------------------------
    def upsert_pod(self, pod: PodRecord) -> None:
        """A pod was written whole; a pod of the same name under another uid is replaced."""
        with self._lock:
            self._write_seq += 1
            for uid in self._pods.by_index(BY_NAME, f"{pod.namespace}/{pod.name}"):
                if uid != pod.uid:
                    self._touch(POD, uid)
                    self._put_pod(uid, None)
            self._touch(POD, pod.uid)
            self._put_pod(pod.uid, copy_pod(pod))
        self._deliver()

    def patch_pod(self, pod: PodRecord, *groups: str) -> bool:
        """Only these field groups of `pod` were written (`patch_pods`); False when absent."""
        with self._lock:
            current = self._pods.get(pod.uid)
            if current is None:
                return False
            self._write_seq += 1
            patched = copy_pod(current)
            source = copy_pod(pod)
            for group in groups:
                for name in PATCH_FIELDS[group]:
                    setattr(patched, name, getattr(source, name))
            self._touch(POD, pod.uid)
            self._put_pod(pod.uid, patched)
        self._deliver()
        return True

    def delete_pod(self, uid: str) -> None:
        with self._lock:
            self._write_seq += 1
            self._touch(POD, uid)
            self._put_pod(uid, None)
        self._deliver()

    def upsert_object(self, record: ObjectRecord) -> None:
        with self._lock:
            self._write_seq += 1
            self._touch("object", record.key)
            self._put_object(record.key, copy_object(record))
        self._deliver()

    def delete_object(self, key: Key) -> None:
        with self._lock:
            self._write_seq += 1
            self._touch("object", key)
            self._put_object(key, None)
        self._deliver()

    def replace(
        self, objects: Iterable[ObjectRecord], pods: Iterable[PodRecord], *,
        written_after: int | None = None, copy: bool = True,
    ) -> int:
        """Make the cache equal a full list of the store; returns how many changes that made.

        `written_after`: the write sequence (`write_mark()`) taken before listing;
        what was written through since then is newer than the list and is kept.
        """
        new_objects = {o.key: copy_object(o) if copy else o for o in objects}
        new_pods = {p.uid: copy_pod(p) if copy else p for p in pods}
        with self._lock:
            keep = {k for k, seq in self._touched.items()
                    if written_after is not None and seq > written_after}
            before = self._resource_version
            for key in [k for k in self._objects if k not in new_objects]:
                if ("object", key) not in keep:
                    self._put_object(key, None)
            for key, obj in new_objects.items():
                if ("object", key) not in keep and self._objects.get(key) != obj:
                    self._put_object(key, obj)
            for uid in [u for u in self._pods if u not in new_pods]:
                if (POD, uid) not in keep:
                    self._put_pod(uid, None)
            for uid, pod in new_pods.items():
                if (POD, uid) not in keep and self._pods.get(uid) != pod:
                    self._put_pod(uid, pod)
            self._touched = {k: s for k, s in self._touched.items() if k in keep}
            self.synced = True
            changes = self._resource_version - before
        self._deliver()
        return changes

    def write_mark(self) -> int:
        """The current write sequence: pass it to replace() as `written_after`."""
        with self._lock:
            return self._write_seq

    def relist(
        self, list_all: Callable[[], tuple[Iterable[ObjectRecord], Iterable[PodRecord]]]
    ) -> int:
        """List the store with `list_all` (objects, pods) and replace; returns the change count."""
        mark = self.write_mark()
        objects, pods = list_all()
        return self.replace(objects, pods, written_after=mark, copy=False)

    # -- internals (called with the lock held) ------------------------------------------
    def _object_copies(self, keys: Iterable[Key]) -> list[ObjectRecord]:
        return [copy_object(o) for k in sorted(keys, key=_order)
                if (o := self._objects.get(k)) is not None]

    def _touch(self, kind: str, key: Hashable) -> None:
        self._touched[(kind, key)] = self._write_seq

    def _put_pod(self, uid: str, pod: PodRecord | None) -> None:
        old = self._pods.remove(uid) if pod is None else self._pods.put(uid, pod)
        if old == pod:
            # Nothing gone and nothing new, or the same pod written again: no change to tell.
            return
        new_share = ZERO if pod is None else contribution(pod)
        self._usage.apply(self._contributions.pop(uid, ZERO), new_share)
        if new_share is not ZERO:
            self._contributions[uid] = new_share
        self._emit(POD, uid, old, pod)

    def _put_object(self, key: Key, obj: ObjectRecord | None) -> None:
        if obj is None:
            old = self._objects.remove(key)
            self._selectors.pop(key, None)
            if old is None:
                return
        else:
            self._selectors[key] = object_selector(obj)
            old = self._objects.put(key, obj)
            if old == obj:
                return
        self._emit(key.kind, key, old, obj)

    def _emit(self, kind: str, key: str | Key, old: Record | None, new: Record | None) -> None:
        self._resource_version += 1
        if new is None:
            self._versions.pop(key, None)
        else:
            self._versions[key] = self._resource_version
        if self._subscribers:
            self._pending.append(Change(kind, key, old, new, self._resource_version))

    def _deliver(self) -> None:
        # Outside the state lock, so a slow subscriber never blocks readers; one delivery
        # lock keeps every subscriber seeing changes in resource-version order.
        with self._deliver_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    change = self._pending.popleft()
                    subscribers = list(self._subscribers)
                for subscriber in subscribers:
                    try:
                        subscriber(_copied(change))
                    except Exception:
                        log.exception("cache subscriber %r failed on %s %s",
                                      subscriber, change.kind, change.key)


def _order(key: Key) -> tuple[str, str, str]:
    # Key's own order, as one tuple per key: the dataclass's __lt__ builds two per
    # comparison (a sort of 1,000 keys made 10,000 of them).
    return key.kind, key.namespace, key.name


def _copied(change: Change) -> Change:
    def copy(r: Record | None) -> Record | None:
        if r is None:
            return None
        return copy_pod(r) if isinstance(r, PodRecord) else copy_object(r)

    return Change(change.kind, change.key, copy(change.old), copy(change.new),
                  change.resource_version)
