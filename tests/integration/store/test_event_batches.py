"""Events queued with `Store.queue_event` and written in batches by the store's recorder,
on a real SQLite file and a real PostgreSQL database (`store_url`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from reconciler.api.records import EventRecord
from reconciler.store import Store

pytestmark = pytest.mark.timeout(60)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def ev(reason: str, name: str = "web", uid: str = "") -> EventRecord:
    return EventRecord("default", "Pod", name, "Normal", reason, f"{reason} {name}", "kubelet",
                       uid=uid)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


def inserts(store: Store) -> tuple[list[str], object]:
    """The event INSERTs the store's engine sends from now on (and the listener, to remove)."""
    sent: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if statement.upper().startswith("INSERT INTO EVENTS"):
            sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    return sent, seen


class TestEventBatches:
    def test_queued_events_are_written_soon_without_a_flush(self, store: Store) -> None:
        """A queued event reaches the store on its own, within a generous wait."""
        store.queue_event(ev("Scheduled"))
        deadline = time.monotonic() + 20
        while not store.list_events("default", "Pod", "web") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e.reason for e in store.list_events("default", "Pod", "web")] == ["Scheduled"]

    def test_a_batch_is_one_insert_in_the_order_queued(self, store: Store) -> None:
        """Events of one moment go in one INSERT; listed in the order they were queued
        (each stamped when queued)."""
        sent, listener = inserts(store)
        store.event_recorder().delay = 60  # one batch however slow the queueing: the flush
        try:
            for n in range(30):
                store.queue_event(ev(f"R{n:02}", name=f"p{n % 3}"),
                                  now=T0 + timedelta(milliseconds=n))
            assert store.flush_events()
        finally:
            event.remove(store.engine, "before_cursor_execute", listener)
        assert len(sent) == 1
        assert [e.reason for e in store.list_events("default")] == [f"R{n:02}" for n in range(30)]

    def test_a_message_holding_a_nul_is_stored(self, store: Store) -> None:
        """A probe's output with a NUL byte (PostgreSQL refuses it in text) is stored, with the
        NUL spelled out, and the events queued with it are stored too."""
        store.queue_event(EventRecord("default", "Pod", "web", "Warning", "Unhealthy",
                                      "probe said a\x00b", "kubelet"))
        store.queue_event(ev("Started"))
        assert store.flush_events()
        got = {e.reason: e.message for e in store.list_events("default", "Pod", "web")}
        assert got == {"Unhealthy": "probe said a\\0b", "Started": "Started web"}

    def test_repeats_aggregate_within_and_across_batches(self, store: Store) -> None:
        """A repeat bumps count and last_seen, whether in the same batch or a later one."""
        told: list[int] = []
        store.queue_event(ev("BackOff"), now=T0, then=lambda e: told.append(e.count))
        store.queue_event(ev("BackOff", uid="u1"), now=T0 + timedelta(minutes=1),
                          then=lambda e: told.append(e.count))
        assert store.flush_events()
        store.queue_event(ev("BackOff"), now=T0 + timedelta(minutes=5),
                          then=lambda e: told.append(e.count))
        assert store.flush_events()
        [stored] = store.list_events("default", "Pod", "web")
        assert stored.count == 3 and stored.uid == "u1"
        assert (stored.first_seen, stored.last_seen) == (T0, T0 + timedelta(minutes=5))
        assert told == [1, 2, 3]

    def test_close_writes_the_queued_events(self, store_url: str) -> None:
        """Closing the store (the service's stop) writes what was queued."""
        first = Store.open(store_url)
        first.event_recorder().delay = 60.0
        first.queue_event(ev("Killing"))
        first.close()
        with Store.open(store_url) as again:
            assert [e.reason for e in again.list_events("default")] == ["Killing"]

    def test_a_fenced_store_without_its_lease_drops_events(self, store: Store) -> None:
        """A deposed leader's events are refused by the fence and dropped, never raised."""
        store.fence("reconciler", "old-holder", 1)
        store.queue_event(ev("Started"))
        assert store.flush_events()
        assert store.event_recorder().dropped == 1
        store.unfence()
        assert store.list_events("default") == []

    def test_an_event_queued_in_a_transaction_waits_for_its_commit(self, store: Store) -> None:
        """Queued inside a write transaction: written after its commit, never after a rollback."""
        with pytest.raises(RuntimeError), store.batch():
            store.queue_event(ev("Scheduled", name="rolled-back"))
            raise RuntimeError("the write failed")
        with store.batch():
            store.queue_event(ev("Scheduled", name="committed"))
            assert store.event_recorder().pending() == 0
        assert store.flush_events()
        assert [e.name for e in store.list_events("default")] == ["committed"]


class TestTenure:
    def test_events_queued_under_a_lost_lease_are_not_written(self, store: Store) -> None:
        """Queued while the lease was held, still queued when it is lost: dropped, so a
        deposed holder's events never land after its successor's, unfenced."""
        lease = store.try_acquire("node/a", "me", ttl=30)
        assert lease is not None
        store.fence("node/a", "me", lease.epoch)
        store.event_recorder().delay = 60
        store.queue_event(ev("Started"))
        store.unfence()
        assert store.flush_events()
        assert store.list_events("default", "Pod", "web") == []
        store.queue_event(ev("Killing"))  # a standby's own events are written as before
        assert store.flush_events()
        assert [e.reason for e in store.list_events("default", "Pod", "web")] == ["Killing"]

    def test_events_of_an_earlier_tenure_are_dropped_when_fenced_again(
            self, store: Store) -> None:
        """Fenced at a new epoch while the old epoch's events wait: they are dropped."""
        store.fence("node/a", "me", 1)
        store.event_recorder().delay = 60
        store.queue_event(ev("Started"))
        store.fence("node/a", "me", 2)
        assert store.event_recorder().pending() == 0
        store.fence("node/a", "me", 2)  # the same tenure again: nothing to drop
