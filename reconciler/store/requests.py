"""Requests to the active instance through the store: `reconciler sync`, `delete`, from any host.

Mixin of `Store`. The CLI adds a row (`add_request`) and, on PostgreSQL, sends
`NOTIFY reconciler_requests` in the same transaction; the instance that holds
the lease waits on `requests_detector()` (SQLite's `data_version`, PostgreSQL's
LISTEN) and takes every pending row at once (`take_requests`), marking it
handled by its holder name, which the CLI reads back (`get_request`). Nothing
depends on a pid file or a signal, so the active instance may run on another
machine than the CLI: all they share is the store (migration 0011).

A request made while no instance is active stays pending and is taken by the
next one to start (its first pass covers it anyway). Handled rows are pruned
after `KEEP_HANDLED`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, text, update

from reconciler.store.base import StoreBase, db_now
from reconciler.store.changes import (
    ChangeDetector,
    DataVersionDetector,
    ListenDetector,
    PeriodicDetector,
)
from reconciler.store.engine import sqlite_file
from reconciler.store.models import LeaseRow, RequestRow

CONTROLLER_LEASE = "reconciler-controller"  # the lease of the acting instance (service/lease.py)
REQUESTS_CHANNEL = "reconciler_requests"  # PostgreSQL NOTIFY channel of add_request
KEEP_HANDLED = timedelta(hours=1)

_Q = RequestRow.__table__.c
# Built once: the listener asks after every commit it is woken by (a heartbeat's too), and
# building the statement each time cost more than running it.
_PENDING = select(func.count()).select_from(RequestRow).where(_Q.handled_at.is_(None))
_L = LeaseRow.__table__.c


@dataclass(frozen=True)
class RequestRecord:
    """One request: who asked, and which instance took it (empty while pending)."""

    id: int
    kind: str
    requested_by: str
    requested_at: datetime
    handled_by: str
    handled_at: datetime | None


class RequestsMixin(StoreBase):
    """Requests to the active instance: add, take, read; see the module docstring."""

    def add_request(self, kind: str, requested_by: str) -> int:
        """Queue a request for the active instance; its id. Not fenced: any host may ask."""
        with self._transaction(fenced=False) as s:
            now = db_now(s)
            new_id = s.execute(insert(RequestRow).values(
                kind=kind, requested_by=requested_by, requested_at=now, handled_by="",
            ).returning(_Q.id)).scalar_one()
            if s.get_bind().dialect.name == "postgresql":
                # Delivered at commit, never before: the listener then finds the row.
                s.execute(text("SELECT pg_notify(:channel, :kind)"),
                          {"channel": REQUESTS_CHANNEL, "kind": kind})
        return int(new_id)

    def pending_requests(self) -> int:
        """How many requests no instance has taken yet (a cheap read before `take_requests`)."""
        with self._read() as s:
            return int(s.execute(_PENDING).scalar_one())

    def take_requests(self, holder: str) -> list[RequestRecord]:
        """Mark every pending request as handled by `holder`; the ones taken, oldest first.

        Fenced like every write of the active instance: a holder that lost the lease
        takes nothing (LeaseLost), so its successor gets the requests.
        """
        with self.batch() as s:
            now = db_now(s)
            rows = s.execute(
                update(RequestRow).where(_Q.handled_at.is_(None))
                .values(handled_by=holder, handled_at=now)
                .returning(_Q.id, _Q.kind, _Q.requested_by, _Q.requested_at)).all()
            s.execute(delete(RequestRow).where(_Q.handled_at < now - KEEP_HANDLED))
        return sorted((RequestRecord(int(r.id), r.kind, r.requested_by, r.requested_at,
                                     holder, now) for r in rows), key=lambda r: r.id)

    def get_request(self, request_id: int) -> RequestRecord | None:
        """One request as it is now (None once pruned)."""
        with self._read() as s:
            row = s.execute(select(RequestRow.__table__).where(_Q.id == request_id)).first()
        if row is None:
            return None
        return RequestRecord(int(row.id), row.kind, row.requested_by, row.requested_at,
                             row.handled_by, row.handled_at)

    def active_holder(self, lease: str = CONTROLLER_LEASE) -> str:
        """The holder of `lease` while its hold is live by the database's clock, else ""."""
        with self._read() as s:
            now = db_now(s)
            row = s.execute(select(_L.holder, _L.expires_at).where(_L.name == lease)).first()
        if row is None or not row.holder or row.expires_at <= now:
            return ""
        return str(row.holder)

    def requests_detector(self) -> ChangeDetector:
        """What the active instance waits on for new requests (its own connection)."""
        path = sqlite_file(self.engine.url)
        if path is not None:
            return DataVersionDetector(str(path))
        if self.engine.url.get_backend_name() == "postgresql":
            return ListenDetector(self.engine.url, REQUESTS_CHANNEL)
        return PeriodicDetector(1.0)  # in-memory SQLite: no other process can ask
