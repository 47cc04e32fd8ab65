"""A rate-limited work queue of keys, as client-go's workqueue shapes it.

Sits between the reactors (folder and git sources, Docker events, probe results,
timers) and the reconcile workers: reactors only `add` keys; a worker `get`s a
key, reconciles it, then calls `done`. A key is never processed by two workers
at once, and a key added while it is being processed is processed once more
afterwards (the dirty/processing sets of client-go), so no change is lost and
none is handled twice concurrently.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down; workers should exit."""


class ExponentialBackoff(Generic[K]):
    """Per-key failure backoff: base * 2**failures, capped.

    client-go's ItemExponentialFailureRateLimiter.
    """

    def __init__(self, base: float = 0.05, cap: float = 60.0) -> None:
        self._base = base
        self._cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return float(min(self._cap, self._base * 2.0**n))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)


class WorkQueue(Generic[K]):
    """Deduplicating FIFO of keys with delayed adds and per-key failure backoff."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: list[K] = []
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._delayed: list[tuple[float, int, K]] = []
        # Each delayed key's due time: a key waits once, at its earliest due time (client-go's
        # waitingForQueue). Heap entries whose time is not the key's are stale and skipped.
        # Without it, every resync's add of a key that requeues itself after each pass
        # (a node's heartbeat) started one more timer chain, for ever.
        self._waiting: dict[K, float] = {}
        self._seq = itertools.count()
        self._backoff: ExponentialBackoff[K] = ExponentialBackoff()
        self._shutdown = False

    def add(self, key: K) -> None:
        """Queue `key` now; a no-op when it is already waiting."""
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` once `delay` seconds have passed; a key already waiting keeps the
        earlier of its two times."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutdown:
                return
            due = self._clock() + delay
            if self._waiting.get(key, float("inf")) <= due:
                return
            self._waiting[key] = due
            heapq.heappush(self._delayed, (due, next(self._seq), key))
            self._cond.notify()

    def add_rate_limited(self, key: K) -> None:
        """Queue `key` after its failure backoff (each call doubles it until `forget`)."""
        with self._cond:
            delay = self._backoff.when(key)
        self.add_after(key, delay)

    def forget(self, key: K) -> None:
        """Reset the failure backoff of `key` (after a successful reconcile)."""
        with self._cond:
            self._backoff.forget(key)

    def failures(self, key: K) -> int:
        with self._cond:
            return self._backoff.failures(key)

    def get(self, timeout: float | None = None) -> K | None:
        """The next key to process, or None after `timeout`; raises ShutDown when closing."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                if self._shutdown:
                    raise ShutDown
                self._promote_due_locked()
                if self._queue:
                    key = self._queue.pop(0)
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                wait = None
                if self._delayed:
                    wait = max(0.0, self._delayed[0][0] - self._clock())
                if deadline is not None:
                    left = deadline - self._clock()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def _promote_due_locked(self) -> None:
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            due, _, key = heapq.heappop(self._delayed)
            if self._waiting.get(key) != due:
                continue  # stale: the key got an earlier time, and went then
            del self._waiting[key]
            self._add_locked(key)

    def done(self, key: K) -> None:
        """Mark `key` processed; if it was added meanwhile, it goes back on the queue."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def depth(self) -> int:
        """Keys waiting now plus keys waiting for their delay."""
        with self._cond:
            return len(self._queue) + len(self._waiting)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    @property
    def is_shutdown(self) -> bool:
        with self._cond:
            return self._shutdown
