"""Events in the store, aggregated as Kubernetes does.

Mixin of `Store`. Every component records `record_event(EventRecord)`; a repeat
of the same object, type, reason, message and source bumps `count` and
`last_seen` instead of adding a row, so `describe` can show "3m (x4 over 10m)".
The lease lives in `leases.LeasesMixin`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from reconciler.api.records import EventRecord
from reconciler.store import convert
from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import EventRow

_E = EventRow.__table__.c


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
        out: list[EventRecord] = []
        with self._write() as s:
            for ev in events:
                seen = ev.last_seen or now
                same = (
                    _E.namespace == ev.namespace,
                    _E.kind == ev.kind,
                    _E.name == ev.name,
                    _E.type == ev.type,
                    _E.reason == ev.reason,
                    _E.message == ev.message,
                    _E.source == ev.source,
                    _E.host == ev.host,
                )
                row = (
                    s.execute(select(_E.id, _E.count, _E.first_seen).where(*same))
                    .mappings()
                    .first()
                )
                if row is None:
                    first = ev.first_seen or seen
                    s.execute(
                        insert(EventRow).values(
                            namespace=ev.namespace,
                            kind=ev.kind,
                            name=ev.name,
                            uid=ev.uid,
                            type=ev.type,
                            reason=ev.reason,
                            message=ev.message,
                            source=ev.source,
                            host=ev.host,
                            count=ev.count,
                            first_seen=first,
                            last_seen=seen,
                        )
                    )
                    out.append(replace(ev, first_seen=first, last_seen=seen))
                else:
                    count = row["count"] + ev.count
                    s.execute(
                        update(EventRow)
                        .where(_E.id == row["id"])
                        .values(count=count, last_seen=seen, uid=ev.uid or EventRow.uid)
                    )
                    out.append(
                        replace(ev, count=count, first_seen=row["first_seen"], last_seen=seen)
                    )
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
