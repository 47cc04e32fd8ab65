"""Events written late and in batches, as client-go's event broadcaster does.

`Store.queue_event` (events.EventsMixin) hands an event to the store's one
`EventRecorder` and returns at once: the caller's object write never carries an
event INSERT, never waits for one and never fails because of one. A background
thread collects what is queued for `delay` seconds after the first event (or
until `size` are queued) and hands them, in the order queued, to `write` (the
store's `record_events`: one transaction of multi-row upserts). A batch that
fails is logged and retried with backoff; one refused because the lease passed
on is dropped (the successor records its own). What is queued when the process
is killed is lost, as Kubernetes' events are best effort; `flush` (tests, the
service's stop) and `close` write what is queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import exc

from reconciler.api.records import EventRecord
from reconciler.store.base import LeaseLost

log = logging.getLogger(__name__)

# Written (stored events, in the order given) -> what each event became once stored.
Write = Callable[[Sequence[EventRecord]], list[EventRecord]]
# Told of one event once it is stored (with its aggregated count); runs on the recorder's
# thread and must not block.
Then = Callable[[EventRecord], None]

DELAY = 0.1  # seconds from the first event queued to its batch's write
SIZE = 200  # a batch this large is written at once
BOUND = 10_000  # queued events kept while the store refuses writes; the oldest go first
BACKOFF_MIN, BACKOFF_MAX = 0.1, 5.0
# Errors no retry can mend: the database refused what an event holds (PostgreSQL refuses a
# NUL in text), not the write as such. A batch that meets one is tried one event at a time.
PERMANENT = (exc.DataError, exc.IntegrityError, exc.ProgrammingError, ValueError, TypeError)


@dataclass(frozen=True)
class _Queued:
    event: EventRecord
    then: Then | None


class EventRecorder:
    """The queue and its writer thread; see the module docstring."""

    def __init__(self, write: Write, *, delay: float = DELAY, size: int = SIZE,
                 bound: int = BOUND, backoff: tuple[float, float] = (BACKOFF_MIN, BACKOFF_MAX),
                 name: str = "event-recorder") -> None:
        self.write = write  # the batch writer (the bench wraps it to count its statements)
        self.delay, self.size, self.bound = delay, size, bound
        self._backoff = backoff
        self._name = name
        self._cond = threading.Condition()
        self._queue: deque[_Queued] = deque()
        # The batch being written (taken off the queue, not yet stored).
        self._writing = 0
        self._flushing = 0  # callers waiting in `flush`: write without the delay
        self._single = 0  # batches still to take one event at a time (after a PERMANENT error)
        self._failing = False  # the last write failed: a stop does not wait long for the store
        self._closed = False
        self._thread: threading.Thread | None = None
        # Counters for tests and the log: events stored, dropped, failed batch writes.
        self.written = 0
        self.dropped = 0
        self.failures = 0

    def record(self, event: EventRecord, then: Then | None = None) -> None:
        """Queue `event`; never blocks on the store, never raises."""
        dropped = False
        with self._cond:
            if self._closed:
                self.dropped += 1
                dropped = True
            else:
                if len(self._queue) >= self.bound:
                    self._queue.popleft()
                    self.dropped += 1
                    dropped = True
                self._queue.append(_Queued(event, then))
                if self._thread is None:
                    # Started on first use: a CLI's store that records nothing has no thread.
                    # A daemon, so an unclosed store does not hold the process at exit.
                    self._thread = threading.Thread(target=self._run, name=self._name,
                                                    daemon=True)
                    self._thread.start()
                self._cond.notify_all()
        if dropped:
            log.warning("event dropped (recorder %s): %s %s/%s %s",
                        "closed" if self._closed else "full", event.kind, event.namespace,
                        event.name, event.reason)

    def pending(self) -> int:
        """Events queued or being written."""
        with self._cond:
            return len(self._queue) + self._writing

    def flush(self, timeout: float = 10.0) -> bool:
        """Write what is queued now and wait for it; False when not all of it was stored
        within `timeout` (the store refused: it stays queued and is retried)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._queue or self._writing:
                    left = deadline - time.monotonic()
                    if left <= 0 or self._thread is None or not self._thread.is_alive():
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._flushing -= 1

    def discard(self, why: str) -> int:
        """Drop what is queued (not a batch being written); how many were dropped."""
        with self._cond:
            lost = len(self._queue)
            self._queue.clear()
            self.dropped += lost
            self._cond.notify_all()
        if lost:
            log.warning("%d queued events not recorded: %s", lost, why)
        return lost

    def close(self, timeout: float = 10.0) -> bool:
        """Flush, then stop the thread; later events are dropped. False: some were not stored.

        `timeout` bounds the whole close; a store that refused the last write gets one
        second (the service's stop already waited for it once: systemd's stop timeout)."""
        deadline = time.monotonic() + timeout
        done = self.flush(min(timeout, 1.0) if self._failing else timeout)
        with self._cond:
            self._closed = True
            lost = len(self._queue)
            self._queue.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        if lost:
            log.warning("%d events not recorded: the store refused them until shutdown", lost)
        return done

    def _take(self) -> list[_Queued] | None:
        """The next batch, once it is due; None when closed."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            due = time.monotonic() + self.delay
            while (not self._closed and not self._flushing and len(self._queue) < self.size
                   and (left := due - time.monotonic()) > 0):
                self._cond.wait(left)
            if self._closed:
                return None
            size = 1 if self._single else self.size
            self._single = max(0, self._single - 1)
            batch = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
            self._writing = len(batch)
            return batch

    def _run(self) -> None:
        backoff = self._backoff[0]
        while (batch := self._take()) is not None:
            try:
                stored = self.write([q.event for q in batch])
            except LeaseLost as e:
                log.warning("%d events not recorded: %s", len(batch), e)
                self._settle(dropped=len(batch))
                continue
            except PERMANENT as e:
                if len(batch) == 1:
                    event = batch[0].event
                    log.warning("event not recorded, the store refused it: %s %s/%s %s: %s",
                                event.kind, event.namespace, event.name, event.reason, e)
                    self._settle(dropped=1)
                    continue
                # One event the database refuses must not hold up every later one: the
                # batch goes back and is written one event at a time; the refused one is
                # dropped, the others are stored.
                with self._cond:
                    self._queue.extendleft(reversed(batch))
                    self._single = len(batch)
                    self._writing = 0
                    self._cond.notify_all()
                continue
            except Exception:
                # The store may be locked past its timeout or unreachable for now: the batch
                # goes back to the front of the queue, in order, and is tried again.
                self.failures += 1
                self._failing = True
                log.exception("writing %d events failed; retrying in %.1fs", len(batch), backoff)
                with self._cond:
                    self._queue.extendleft(reversed(batch))
                    while len(self._queue) > self.bound:
                        self._queue.popleft()
                        self.dropped += 1
                    self._writing = 0
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: self._closed, backoff)
                backoff = min(backoff * 2, self._backoff[1])
                continue
            backoff = self._backoff[0]
            self._failing = False
            for queued, event in zip(batch, stored, strict=True):
                if queued.then is not None:
                    try:
                        queued.then(event)
                    except Exception:
                        log.exception("event callback failed")
            self._settle(written=len(batch))

    def _settle(self, *, written: int = 0, dropped: int = 0) -> None:
        with self._cond:
            self.written += written
            self.dropped += dropped
            self._writing = 0
            self._cond.notify_all()
