"""Expectations: the creates and deletes a controller asked for and has not yet seen.

Shared by the replication controller (which records what it is about to do) and
the pod lifecycle / adoption paths (which report what they observed). The planner
reads `satisfied(key, now)` through the `ExpectationsView` protocol and plans no
create or delete while it is False, so a slow Docker call never causes a double
create. Mirrors controller_utils.go's ControllerExpectations and
UIDTrackingControllerExpectations: "A controller isn't synced till its
expectations are either fulfilled, or expire" (ExpectationsTimeout, 5 minutes).
Names instead of counts: our controller knows the names of the pods it creates.
Holds no I/O; a lock makes it safe to share between worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

EXPECTATIONS_TIMEOUT = timedelta(minutes=5)
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


class ExpectationsView(Protocol):
    """What the replica planner needs to know about work in flight."""

    def satisfied(self, key: str, now: datetime) -> bool: ...


@dataclass
class _Pending:
    adds: set[str] = field(default_factory=set)
    dels: set[str] = field(default_factory=set)
    since: datetime = _LONG_AGO


class Expectations:
    """Pending creations and deletions by controller key (`Kind/namespace/name`)."""

    def __init__(
        self,
        timeout: timedelta = EXPECTATIONS_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}

    def expect_creations(
        self, key: str, names: Iterable[str], now: datetime | None = None
    ) -> None:
        """Record pods about to be created, replacing earlier ones (SetExpectations)."""
        with self._lock:
            entry = self._pending.setdefault(key, _Pending())
            entry.adds = set(names)
            entry.since = now or self._clock()

    def expect_deletions(
        self, key: str, names: Iterable[str], now: datetime | None = None
    ) -> None:
        """Record pods about to be deleted, replacing earlier ones."""
        with self._lock:
            entry = self._pending.setdefault(key, _Pending())
            entry.dels = set(names)
            entry.since = now or self._clock()

    def creation_observed(self, key: str, name: str) -> None:
        """A pod we expected to create exists, or its creation was given up (LowerExpectations)."""
        with self._lock:
            entry = self._pending.get(key)
            if entry is not None:
                entry.adds.discard(name)

    def deletion_observed(self, key: str, name: str) -> None:
        """A pod we expected to delete is gone."""
        with self._lock:
            entry = self._pending.get(key)
            if entry is not None:
                entry.dels.discard(name)

    def pending(self, key: str) -> tuple[frozenset[str], frozenset[str]]:
        """(creations, deletions) still awaited for `key`."""
        with self._lock:
            entry = self._pending.get(key)
            if entry is None:
                return frozenset(), frozenset()
            return frozenset(entry.adds), frozenset(entry.dels)

    def satisfied(self, key: str, now: datetime) -> bool:
        """Nothing awaited, or the expectations are older than the timeout (SatisfiedExpectations).

        A key never seen is satisfied: a new controller, or one whose expectations
        were forgotten in a restart, syncs right away.
        """
        with self._lock:
            entry = self._pending.get(key)
            if entry is None or (not entry.adds and not entry.dels):
                return True
            return now - entry.since > self.timeout

    def forget(self, key: str) -> None:
        """Drop a deleted controller's expectations (DeleteExpectations)."""
        with self._lock:
            self._pending.pop(key, None)
