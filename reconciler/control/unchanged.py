"""Skip a reconcile whose inputs did not change since one that found nothing to do.

Sits inside the controllers that read only the cache (replication, services).
A reconcile is a pure function of what it reads (level-based, principle 2), so
when none of its inputs changed since a reconcile that wrote nothing and asked
for no requeue, running it again would again write nothing: the periodic
resync of 1,000 unchanged objects then costs a few dictionary lookups per key
instead of copies, selector matching and planning (principle 6, "cost grows
with change, not with size").

The inputs are named by the cache's resource versions (`Cache.version`,
`Cache.pod_versions`): every change of a record in the cache, by this process or
read from the store after another process wrote it, gives the record a new
version, so equal versions mean equal records. A fingerprint is taken before
the inputs are read, so a change racing the reconcile makes the stored
fingerprint older than what was read and the next reconcile runs. What is not
in the cache (the clock, in-memory expectations) is the caller's to leave out:
it remembers a fingerprint only when the result did not depend on them.

`reconciler sync` bypasses every memo (`forget_all`, through
`Registry.resync(full=True)`): a user who asks for a look at everything gets
every reconcile run in full, whatever the versions say, so a drift the versions
cannot show (a row changed behind the cache's back, Endpoints removed by hand)
is repaired then. A reconcile that began before `forget_all` remembers nothing
(`begin` hands it the epoch it read under).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from reconciler.api.selectors import Selector
from reconciler.api.types import Key
from reconciler.control.cache import Cache

Fingerprint = tuple[int, frozenset[tuple[str, int]]]


def inputs(cache: Cache, key: Key, selector: Selector | None, *,
           owner_uid: str | None = None) -> Fingerprint:
    """The versions of an object and of the pods it selects (and holds, by `owner_uid`)."""
    version = cache.version(key)
    pods = cache.pod_versions(key.namespace, selector) if selector is not None else frozenset()
    if owner_uid is not None:
        pods |= cache.pod_versions(key.namespace, owner_uid=owner_uid)
    return version, pods


class Unchanged:
    """The fingerprint of each key's last reconcile that changed nothing; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[Hashable, Hashable] = {}
        # Per remembered key, a cache resource version read before a fingerprint that was
        # found equal to the memo: while the cache stays at it, nothing of any input changed.
        self._at: dict[Hashable, int] = {}
        self._epoch = 0  # one more on each forget_all

    def begin(self) -> int:
        """Call before reading a reconcile's inputs; pass the result to `remember`."""
        return self._epoch

    def same(self, key: Hashable, fingerprint: Hashable, at: int | None = None) -> bool:
        """True when `key`'s last idle reconcile read exactly these inputs; `at`: the cache's
        resource version read before `fingerprint` was taken (see `unchanged_since`)."""
        with self._lock:
            equal = self._seen.get(key) == fingerprint
            if equal and at is not None:
                self._at[key] = at
            return equal

    def unchanged_since(self, key: Hashable, resource_version: int) -> bool:
        """True when the cache is still at the resource version of `key`'s last equal
        fingerprint: no record changed at all since, so neither did its inputs. A dict
        lookup, where a fingerprint costs index intersections (the resync asks for every key)."""
        with self._lock:
            return key in self._seen and self._at.get(key) == resource_version

    def remember(self, key: Hashable, fingerprint: Hashable, epoch: int,
                 at: int | None = None) -> None:
        """The reconcile that read `fingerprint` (begun in `epoch`, at the cache resource
        version `at`) wrote nothing and needs no requeue; not remembered when everything
        was forgotten since it began."""
        with self._lock:
            if epoch == self._epoch:
                self._seen[key] = fingerprint
                self._at.pop(key, None)
                if at is not None:
                    self._at[key] = at

    def forget(self, key: Hashable) -> None:
        """The reconcile acted (or failed): the next one runs whatever the inputs."""
        with self._lock:
            self._seen.pop(key, None)
            self._at.pop(key, None)

    def forget_all(self) -> None:
        """Every next reconcile runs in full (`reconciler sync`), those in flight included."""
        with self._lock:
            self._epoch += 1
            self._seen.clear()
            self._at.clear()
