"""Events in the store, aggregated as Kubernetes does.

Mixin of `Store`. Controllers queue events with `queue_event(EventRecord)`
(through `control.context.Context.event`): the store's `recorder.EventRecorder`
writes them a moment later in batches with `record_events`, apart from the
object writes they describe, as Kubernetes' event recorder does (best effort:
what is queued at a kill is lost; `close` writes it). `record_event(s)` writes
at once. A repeat of the same object, type, reason, message and source bumps
`count` and `last_seen` instead of adding a row, so `describe` can show
"3m (x4 over 10m)". A repeat is found by its `fingerprint` (a unique column)
with INSERT ... ON CONFLICT, which stays correct with several writers under
READ COMMITTED. The lease lives in `leases.LeasesMixin`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete
from sqlalchemy.orm import Session

from reconciler.api.records import EventRecord
from reconciler.store.base import Fence, StoreBase, utcnow
from reconciler.store.models import EventRow
from reconciler.store.recorder import EventRecorder, Then
from reconciler.store.upsert import insert_for

_E = EventRow.__table__.c
_CHUNK = 200  # rows per INSERT: 13 bound variables each, far below SQLite's limit
# Guards the making of a store's recorder (two threads' first events at once).
_RECORDER_LOCK = threading.Lock()
# The fields a repeat must match; migration 0007 keeps a frozen copy of this list.
EVENT_KEY = ("namespace", "kind", "name", "type", "reason", "message", "source", "host")


def _row(key: str, repeats: list[EventRecord]) -> dict[str, object]:
    """The row of one fingerprint's events of a batch: counts summed, first and last seen."""
    ev, last = repeats[0], repeats[-1]
    return {
        "namespace": ev.namespace, "kind": ev.kind, "name": ev.name,
        "uid": next((r.uid for r in reversed(repeats) if r.uid), ""), "type": ev.type,
        # PostgreSQL refuses a NUL in text; a probe's or a container's output may hold one.
        "reason": ev.reason, "message": ev.message.replace("\x00", "\\0"), "source": ev.source,
        "host": ev.host,
        "count": sum(r.count for r in repeats), "first_seen": ev.first_seen,
        "last_seen": last.last_seen, "fingerprint": key,
    }


def _upsert(session: Session) -> Any:
    """The batch's INSERT ... ON CONFLICT ... RETURNING, built once per dialect: making
    `excluded` and compiling it again for every batch was most of the recorder's CPU."""
    name = session.get_bind().dialect.name
    statement = _UPSERTS.get(name)
    if statement is None:
        insert = insert_for(session, EventRow)
        statement = _UPSERTS[name] = insert.on_conflict_do_update(
            index_elements=["fingerprint"], set_={
                "count": _E.count + insert.excluded.count,
                "last_seen": insert.excluded.last_seen,
                "uid": case((insert.excluded.uid != "", insert.excluded.uid), else_=_E.uid),
            }).returning(_E.fingerprint, _E.count, _E.first_seen)
    return statement


_UPSERTS: dict[str, Any] = {}  # dialect name -> the statement (immutable: shared)


def fingerprint(event: EventRecord) -> str:
    """The unique key of an event's repeats: SHA-256 of the EVENT_KEY fields."""
    fields = (getattr(event, k) or "" for k in EVENT_KEY)
    return hashlib.sha256("\x00".join(fields).encode()).hexdigest()


class EventsMixin(StoreBase):
    """Events."""

    def record_event(self, event: EventRecord, now: datetime | None = None) -> EventRecord:
        """Add an event, or count a repeat of an identical one; returns the stored event."""
        return self.record_events([event], now)[0]

    def record_events(
        self, events: Iterable[EventRecord], now: datetime | None = None
    ) -> list[EventRecord]:
        """Record several events in one transaction (the recorder's batch); returns each
        event as stored, in the order given."""
        now = now or utcnow()
        batch = [replace(ev, last_seen=ev.last_seen or now,
                         first_seen=ev.first_seen or ev.last_seen or now) for ev in events]
        # Repeats within the batch become one row: one INSERT may not touch a row twice.
        rows: dict[str, list[int]] = {}
        for index, ev in enumerate(batch):
            rows.setdefault(fingerprint(ev), []).append(index)
        stored: dict[str, tuple[int, datetime]] = {}
        # Rows are locked in fingerprint order, so two batches with the same events in
        # another order queue up instead of deadlocking on PostgreSQL. New rows get ids in
        # that order too: events list by last_seen (stamped when queued), then id.
        keys = sorted(rows)
        with self._write() as s:
            for start in range(0, len(keys), _CHUNK):
                values = [_row(key, [batch[i] for i in rows[key]])
                          for key in keys[start:start + _CHUNK]]
                # One statement (SQLAlchemy sends the rows as one multi-row INSERT), so
                # a repeat recorded by two hosts at once is counted twice on one row (the
                # second waits for the first's row lock).
                for key, count, first_seen in s.execute(_upsert(s), values):
                    stored[key] = (count, first_seen)
        out: list[EventRecord] = [*batch]
        for key, indexes in rows.items():
            count, first_seen = stored[key]
            # Each repeat reports the count it brought the row to, as one write per event did.
            for index in reversed(indexes):
                out[index] = replace(batch[index], count=count, first_seen=first_seen)
                count -= batch[index].count
        return out

    def queue_event(self, event: EventRecord, now: datetime | None = None,
                    then: Then | None = None) -> None:
        """Record `event` later, in a batch (`recorder.EventRecorder`); returns at once.

        Inside a write transaction (`batch()`), only once that commits. `then` is called
        with the stored event (its aggregated count) once written.
        """
        stamped = replace(event, last_seen=event.last_seen or now or utcnow())
        recorder = self.event_recorder()
        after: list[Callable[[], None]] | None = getattr(self._local, "after", None)
        if after is None:
            recorder.record(stamped, then)
        else:
            # Inside a write transaction: queued once it commits, so a write rolled back
            # leaves no event saying it happened (as when both were one transaction).
            after.append(lambda: recorder.record(stamped, then))

    def flush_events(self, timeout: float = 10.0) -> bool:
        """Write the queued events now and wait; False when not all were stored in time."""
        recorder: EventRecorder | None = getattr(self, "_recorder", None)
        return recorder is None or recorder.flush(timeout)

    def event_recorder(self) -> EventRecorder:
        """This store's recorder, made on first use."""
        with _RECORDER_LOCK:
            recorder: EventRecorder | None = getattr(self, "_recorder", None)
            if recorder is None:
                recorder = self._recorder = EventRecorder(self.record_events)
            return recorder

    def fence(self, name: str, holder: str, epoch: int) -> None:
        """As `StoreBase.fence`; events queued under another tenure of a lease are dropped:
        they would be written under this one's fence (or none), after a successor's."""
        if self._fence is not None and self._fence != Fence(name, holder, epoch):
            self._drop_events("the lease changed hands")
        super().fence(name, holder, epoch)

    def unfence(self) -> None:
        """As `StoreBase.unfence`; what the lost tenure queued is dropped (see `fence`)."""
        if self._fence is not None:
            self._drop_events("the lease was lost")
        super().unfence()

    def _drop_events(self, why: str) -> None:
        recorder: EventRecorder | None = getattr(self, "_recorder", None)
        if recorder is not None:
            recorder.discard(why)

    def close(self) -> None:
        """Write the queued events, then release every pooled connection."""
        recorder: EventRecorder | None = getattr(self, "_recorder", None)
        if recorder is not None:
            recorder.close()
        super().close()

    def prune_events(self, older_than: datetime) -> int:
        """Delete events last seen before `older_than` (Kubernetes keeps one hour)."""
        with self._write() as s:
            result = s.execute(delete(EventRow).where(_E.last_seen < older_than))
            return int(getattr(result, "rowcount", 0))
