"""Events in the store, aggregated as Kubernetes does.

Mixin of `Store`. Every component records `record_event(EventRecord)`; a repeat
of the same object, type, reason, message and source bumps `count` and
`last_seen` instead of adding a row, so `describe` can show "3m (x4 over 10m)".
A repeat is found by its `fingerprint` (a unique column) with INSERT ... ON
CONFLICT, which stays correct with several writers under READ COMMITTED.
The lease lives in `leases.LeasesMixin`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, select

from reconciler.api.records import EventRecord
from reconciler.store import convert
from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import EventRow
from reconciler.store.upsert import upsert

_E = EventRow.__table__.c
# The fields a repeat must match; migration 0007 keeps a frozen copy of this list.
EVENT_KEY = ("namespace", "kind", "name", "type", "reason", "message", "source", "host")


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
        """Record several events in one transaction."""
        now = now or utcnow()
        batch = list(events)
        out: list[EventRecord] = [*batch]
        # Rows are locked in fingerprint order, so two batches with the same events in
        # another order queue up instead of deadlocking on PostgreSQL.
        order = sorted(range(len(batch)), key=lambda i: fingerprint(batch[i]))
        with self._write() as s:
            for index in order:
                ev = batch[index]
                seen = ev.last_seen or now
                first = ev.first_seen or seen
                values = {
                    "namespace": ev.namespace, "kind": ev.kind, "name": ev.name,
                    "uid": ev.uid, "type": ev.type, "reason": ev.reason,
                    "message": ev.message, "source": ev.source, "host": ev.host,
                    "count": ev.count, "first_seen": first, "last_seen": seen,
                    "fingerprint": fingerprint(ev),
                }
                # One statement, so a repeat recorded by two hosts at once is counted
                # twice on one row (the second waits for the first's row lock).
                statement = upsert(s, EventRow, values, ["fingerprint"], {
                    "count": _E.count + ev.count,
                    "last_seen": seen,
                    "uid": ev.uid or _E.uid,
                }).returning(_E.count, _E.first_seen)
                count, first_seen = s.execute(statement).one()
                out[index] = replace(ev, count=count, first_seen=first_seen, last_seen=seen)
        return out

    def list_events(
        self,
        namespace: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events, optionally about one object (or kind, or namespace), most recent last."""
        query = select(EventRow.__table__)
        if namespace is not None:
            query = query.where(_E.namespace == namespace)
        if kind is not None:
            query = query.where(_E.kind == kind)
        if name is not None:
            query = query.where(_E.name == name)
        if limit is not None:
            query = query.order_by(_E.last_seen.desc(), _E.id.desc()).limit(limit)
        else:
            query = query.order_by(_E.last_seen, _E.id)
        with self._read() as s:
            events = [convert.to_event(r) for r in s.execute(query).mappings()]
        return events[::-1] if limit is not None else events

    def prune_events(self, older_than: datetime) -> int:
        """Delete events last seen before `older_than` (Kubernetes keeps one hour)."""
        with self._write() as s:
            result = s.execute(delete(EventRow).where(_E.last_seen < older_than))
            return int(getattr(result, "rowcount", 0))
