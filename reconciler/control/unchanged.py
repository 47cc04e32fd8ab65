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
        self._epoch = 0  # one more on each forget_all

    def begin(self) -> int:
        """Call before reading a reconcile's inputs; pass the result to `remember`."""
        return self._epoch

    def same(self, key: Hashable, fingerprint: Hashable) -> bool:
        """True when `key`'s last idle reconcile read exactly these inputs."""
        with self._lock:
            return self._seen.get(key) == fingerprint

    def remember(self, key: Hashable, fingerprint: Hashable, epoch: int) -> None:
        """The reconcile that read `fingerprint` (begun in `epoch`) wrote nothing and needs
        no requeue; not remembered when everything was forgotten since it began."""
        with self._lock:
            if epoch == self._epoch:
                self._seen[key] = fingerprint

    def forget(self, key: Hashable) -> None:
        """The reconcile acted (or failed): the next one runs whatever the inputs."""
        with self._lock:
            self._seen.pop(key, None)

    def forget_all(self) -> None:
        """Every next reconcile runs in full (`reconciler sync`), those in flight included."""
        with self._lock:
            self._epoch += 1
            self._seen.clear()
