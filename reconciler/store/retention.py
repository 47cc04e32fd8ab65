"""Retention: what the store forgets, so that it stays bounded however long it runs.

Mixin of `Store`. The service calls `compact()` from a periodic job
(reconciler.service.retention) with the limits of the `[retention]` config section:
events not seen for the event TTL are deleted (Kubernetes keeps one hour), and only
the newest revisions are kept. Pods, claims and allocations need no pruning: their
rows go when the objects do. SQLite reuses the freed pages, so the file stops growing
once the deletes keep pace with the writes; no VACUUM (it would lock the store).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import EventRow, RevisionRow

_E = EventRow.__table__.c
_R = RevisionRow.__table__.c


@dataclass(frozen=True)
class Compaction:
    """What one `compact()` deleted."""

    events: int
    revisions: int


class RetentionMixin(StoreBase):
    """Expiry of events and the revision history."""

    def prune_revisions(self, keep: int) -> int:
        """Delete all but the `keep` newest applied revisions; returns how many went.

        The newest one always stays, whatever `keep` says: it is the applied revision.
        """
        with self._write() as s:
            # The id of the oldest row to keep; everything older goes. One indexed lookup
            # and one range delete, where `NOT IN (newest N)` would scan the table.
            cutoff = s.execute(
                select(_R.id).order_by(_R.id.desc()).offset(max(keep, 1) - 1).limit(1)
            ).scalar()
            if cutoff is None:
                return 0
            result = s.execute(delete(RevisionRow).where(_R.id < cutoff))
            return int(getattr(result, "rowcount", 0))

    def compact(
        self, event_ttl: float, keep_revisions: int, now: datetime | None = None
    ) -> Compaction:
        """Delete events last seen `event_ttl` seconds before `now` and old revisions.

        Two short transactions rather than one: the controllers write events all the
        time, and a long delete would hold SQLite's one write lock against them.
        """
        older_than = (now or utcnow()) - timedelta(seconds=event_ttl)
        with self._write() as s:
            result = s.execute(delete(EventRow).where(_E.last_seen < older_than))
            events = int(getattr(result, "rowcount", 0))
        return Compaction(events=events, revisions=self.prune_revisions(keep_revisions))
