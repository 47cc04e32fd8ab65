"""The event recorder (reconciler/store/recorder.py) with an in-memory writer: batches, order,
flush and close, failures retried and never raised to the caller."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

import pytest

from reconciler.api.records import EventRecord
from reconciler.store.base import LeaseLost
from reconciler.store.recorder import EventRecorder

pytestmark = pytest.mark.timeout(30)


def ev(n: int) -> EventRecord:
    return EventRecord("default", "Pod", f"p{n}", "Normal", "Started", f"started {n}", "kubelet")


class Writer:
    """Keeps every batch; fails the first `fail` calls with `error`."""

    def __init__(self, fail: int = 0, error: Exception | None = None) -> None:
        self.batches: list[list[EventRecord]] = []
        self.calls = 0
        self.fail, self.error = fail, error or RuntimeError("database is locked")
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a write began (and may be waiting at the gate)

    def __call__(self, events: Sequence[EventRecord]) -> list[EventRecord]:
        self.entered.set()
        self.gate.wait(20)
        self.calls += 1
        if self.calls <= self.fail:
            raise self.error
        self.batches.append(list(events))
        return [replace(e, count=7) for e in events]

    def written(self) -> list[EventRecord]:
        return [e for b in self.batches for e in b]


class TestEventRecorder:
    def test_record_returns_before_the_write(self) -> None:
        """A queued event is not written by the caller: the writer runs on its own thread."""
        writer = Writer()
        writer.gate.clear()  # the writer is stuck: record must still return
        recorder = EventRecorder(writer, delay=0.0)
        recorder.record(ev(1))
        assert writer.batches == [] and recorder.pending() == 1
        writer.gate.set()
        assert recorder.flush()
        assert writer.written() == [ev(1)]
        recorder.close()

    def test_events_of_a_moment_go_in_one_batch_in_order(self) -> None:
        """Events queued within the delay are written as one batch, in the order queued."""
        writer = Writer()
        recorder = EventRecorder(writer, delay=5.0)
        for n in range(20):
            recorder.record(ev(n))
        assert recorder.flush()
        assert writer.batches == [[ev(n) for n in range(20)]]
        recorder.close()

    def test_a_full_batch_is_written_without_waiting(self) -> None:
        """`size` queued events are written at once, not after the delay."""
        writer = Writer()
        recorder = EventRecorder(writer, delay=60.0, size=5)
        for n in range(5):
            recorder.record(ev(n))
        for _ in range(200):
            if writer.batches:
                break
            threading.Event().wait(0.05)
        assert writer.batches == [[ev(n) for n in range(5)]]
        recorder.close()

    def test_events_are_written_after_the_delay_without_a_flush(self) -> None:
        """Nobody flushing: the batch is still written, soon after the first event."""
        writer = Writer()
        recorder = EventRecorder(writer, delay=0.05)
        recorder.record(ev(1))
        for _ in range(200):
            if writer.batches:
                break
            threading.Event().wait(0.05)
        assert writer.written() == [ev(1)]
        recorder.close()

    def test_close_writes_what_is_queued(self) -> None:
        """`close` flushes: events queued just before it are written, later ones dropped."""
        writer = Writer()
        recorder = EventRecorder(writer, delay=60.0)
        recorder.record(ev(1))
        recorder.record(ev(2))
        assert recorder.close()
        recorder.record(ev(3))
        assert writer.written() == [ev(1), ev(2)]
        assert recorder.dropped == 1

    def test_a_failed_write_is_retried_in_order_and_never_raised(self) -> None:
        """A batch the store refuses goes back to the queue's front and is written later."""
        writer = Writer(fail=2)
        recorder = EventRecorder(writer, delay=0.0, backoff=(0.01, 0.02))
        recorder.record(ev(1))
        recorder.record(ev(2))
        assert recorder.flush()
        recorder.record(ev(3))
        assert recorder.flush()
        assert writer.written() == [ev(1), ev(2), ev(3)]
        assert recorder.failures == 2 and recorder.dropped == 0
        recorder.close()

    def test_a_lost_lease_drops_the_batch(self) -> None:
        """Events refused because the lease passed on are dropped, not retried."""
        writer = Writer(fail=1, error=LeaseLost("lease reconciler is no longer held"))
        recorder = EventRecorder(writer, delay=0.0)
        recorder.record(ev(1))
        assert recorder.flush()
        recorder.record(ev(2))
        assert recorder.flush()
        assert writer.written() == [ev(2)]
        assert recorder.dropped == 1
        recorder.close()

    def test_flush_gives_up_while_the_store_refuses(self) -> None:
        """`flush` returns False at its timeout when the store keeps refusing; nothing raises."""
        writer = Writer(fail=10**6)
        recorder = EventRecorder(writer, delay=0.0, backoff=(0.01, 0.05))
        recorder.record(ev(1))
        assert not recorder.flush(timeout=0.3)
        assert not recorder.close(timeout=0.3)
        assert writer.written() == []

    def test_the_callback_gets_the_stored_event(self) -> None:
        """`then` is told of the event as the store returned it (its aggregated count)."""
        writer = Writer()
        recorder = EventRecorder(writer, delay=0.0)
        told: list[EventRecord] = []
        recorder.record(ev(1), told.append)
        assert recorder.flush()
        assert told == [replace(ev(1), count=7)]
        recorder.close()

    def test_a_full_queue_drops_the_oldest(self) -> None:
        """Past `bound` queued events (a store refusing for long), the oldest go first."""
        writer = Writer()
        writer.gate.clear()
        recorder = EventRecorder(writer, delay=0.0, bound=3)
        recorder.record(ev(0))  # taken by the stuck writer
        assert writer.entered.wait(20)
        for n in range(1, 6):
            recorder.record(ev(n))
        writer.gate.set()
        assert recorder.flush()
        assert writer.written() == [ev(0), ev(3), ev(4), ev(5)]
        assert recorder.dropped == 2
        recorder.close()


class _Refuses:
    """A writer whose database refuses any batch holding event 3 (as PostgreSQL a NUL)."""

    def __init__(self) -> None:
        self.stored: list[EventRecord] = []
        self.calls = 0

    def __call__(self, events: Sequence[EventRecord]) -> list[EventRecord]:
        self.calls += 1
        if ev(3) in events:
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        self.stored.extend(events)
        return list(events)


class TestRefusedEvent:
    def test_one_refused_event_does_not_hold_up_the_others(self) -> None:
        """A batch the database refuses for one event's content is written one by one: the
        others are stored in order, the refused one is dropped, later batches go as before."""
        writer = _Refuses()
        recorder = EventRecorder(writer, delay=60)
        for n in range(1, 6):
            recorder.record(ev(n))
        assert recorder.flush() is True
        assert writer.stored == [ev(1), ev(2), ev(4), ev(5)]
        assert recorder.dropped == 1
        calls = writer.calls
        recorder.record(ev(6))
        recorder.record(ev(7))
        assert recorder.flush() is True
        assert writer.stored[-2:] == [ev(6), ev(7)] and writer.calls == calls + 1
        recorder.close()
