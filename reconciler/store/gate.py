"""The in-process queue of SQLite writers: threads take the write lock in arrival order.

Used by `StoreBase` around each write transaction on SQLite. SQLite lets one
writer in at a time and makes the others poll with growing sleeps (the busy
handler), which is not fair: on a loaded machine a thread that polls every
100 ms can lose to its busier neighbours until the busy timeout and fail with
"database is locked" while its peers keep writing. Inside one process the
threads therefore queue here first, first come first served, and only one at
a time meets SQLite's lock; the busy handler is left to arbitrate between
processes, which it does well enough (each has its own interpreter lock).
Every store on the same file in this process shares one gate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import OperationalError


class GateTimeout(OperationalError):
    """Waited longer than the busy timeout for this process's other writers."""


class FifoGate:
    """A lock granted in the order it was asked for (a ticket lock)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()  # tickets whose holders gave up waiting

    @contextmanager
    def held(self, timeout: float) -> Iterator[None]:
        """Hold the gate for the block; `GateTimeout` when the turn does not come in time."""
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    def acquire(self, timeout: float) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            if self._cond.wait_for(lambda: self._serving == ticket, timeout):
                return
            # Give up the turn without stalling the queue: `release` skips the ticket.
            self._abandoned.add(ticket)
        raise GateTimeout("waiting for this process's other writers", None,
                          Exception("database is locked"))

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()


_gates: dict[Path, FifoGate] = {}
_gates_lock = threading.Lock()


def gate_for(path: Path) -> FifoGate:
    """The one gate of the SQLite file at `path` in this process."""
    with _gates_lock:
        gate = _gates.get(path)
        if gate is None:
            gate = _gates[path] = FifoGate()
        return gate
