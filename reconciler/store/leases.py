"""The lease (one acting service instance per store), with its fencing epoch.

Mixin of `Store`. The service calls `try_acquire(name, holder, ttl)` until it
holds the lease, then `fence(name, holder, epoch)` so every store write checks
it (`base.StoreBase.batch`), and `renew` every few seconds. Three rules make a
paused or skewed instance harmless:

- Expiry is judged by one clock, the database's (`base.db_now`: SQLite's
  `strftime('now')`, PostgreSQL's `clock_timestamp()`), read inside the write
  transaction; no caller's clock decides who holds the lease.
- `epoch` rises each time the lease is taken other than by renewing a live hold,
  and is never reset: `release` clears the holder and expires the row instead of
  deleting it.
- Who may take or renew the lease, and the epoch and expiry it then gets, is
  decided by `reconciler.planning.leases.acquire` (pure) from the row read
  here; this module only reads, asks and writes. The holder's own cheap clock
  for Docker actions is `reconciler.planning.leases.LeaseClock`.

Each update is one conditional statement inside a `BEGIN IMMEDIATE` transaction,
so two processes on one SQLite file never both hold the lease.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reconciler.planning import leases as policy
from reconciler.store.base import LeaseLost, StoreBase, db_now
from reconciler.store.models import LeaseRow
from reconciler.store.records import LeaseRecord

__all__ = ["LeaseLost", "LeasesMixin"]

_L = LeaseRow.__table__.c


class LeasesMixin(StoreBase):
    """The lease: acquire, renew, release, read."""

    def try_acquire(self, name: str, holder: str, ttl: float) -> LeaseRecord | None:
        """Take the lease when free, expired or already ours; the lease when we hold it now.

        Taking it from anyone (ourselves included) whose hold has expired or was released
        raises the epoch; renewing our own live hold keeps it.
        """
        with self._transaction(fenced=False) as s:
            now = db_now(s)
            row = s.execute(
                select(_L.holder, _L.expires_at, _L.epoch).where(_L.name == name)
            ).first()
            current = None if row is None else policy.Hold(row.holder, row.expires_at, row.epoch)
            grant = policy.acquire(current, holder, now, ttl)
            if grant is None:
                return None
            if row is None:
                try:
                    with s.begin_nested():
                        s.execute(
                            insert(LeaseRow).values(
                                name=name, holder=holder, acquired_at=now, renewed_at=now,
                                expires_at=grant.expires_at, epoch=grant.epoch,
                            )
                        )
                except IntegrityError:
                    return None
                return LeaseRecord(name, holder, now, now, grant.expires_at, grant.epoch)
            values: dict[str, object] = {"renewed_at": now, "expires_at": grant.expires_at}
            if grant.taken:
                values.update(holder=holder, acquired_at=now, epoch=grant.epoch)
            # Conditional on what was read, though BEGIN IMMEDIATE already serialises
            # writers: on PostgreSQL two takers may both read the expired row.
            result = s.execute(
                update(LeaseRow)
                .where(_L.name == name, _L.holder == row.holder, _L.epoch == row.epoch)
                .values(**values)
            )
            if not getattr(result, "rowcount", 0):
                return None
            return self._lease(s, name)

    def renew(self, name: str, holder: str, ttl: float, epoch: int | None = None) -> bool:
        """Extend our hold; False when the lease has passed to another holder or epoch.

        A hold that expired but that nobody took is still ours to renew: nothing acted
        in between, since every write and Docker action checks the hold first.
        """
        with self._transaction(fenced=False) as s:
            now = db_now(s)
            query = update(LeaseRow).where(_L.name == name, _L.holder == holder)
            if epoch is not None:
                query = query.where(_L.epoch == epoch)
            result = s.execute(
                query.values(renewed_at=now, expires_at=policy.expiry(now, ttl))
            )
            return bool(getattr(result, "rowcount", 0))

    def release(self, name: str, holder: str, epoch: int | None = None) -> bool:
        """Give the lease up (on shutdown) so another instance takes over at once.

        The row stays, expired and without a holder, so the epoch keeps rising.
        """
        with self._transaction(fenced=False) as s:
            now = db_now(s)
            query = update(LeaseRow).where(_L.name == name, _L.holder == holder)
            if epoch is not None:
                query = query.where(_L.epoch == epoch)
            result = s.execute(query.values(holder="", expires_at=now))
            return bool(getattr(result, "rowcount", 0))

    def get_lease(self, name: str) -> LeaseRecord | None:
        """The lease's record (holder "" once released), or None when never taken."""
        with self._read() as s:
            return self._lease(s, name)

    @staticmethod
    def _lease(s: Session, name: str) -> LeaseRecord | None:
        row = s.execute(select(LeaseRow.__table__).where(_L.name == name)).first()
        if row is None:
            return None
        return LeaseRecord(
            row.name, row.holder, row.acquired_at, row.renewed_at, row.expires_at, row.epoch
        )

    def lease_expired(self, name: str) -> bool:
        """Whether the lease is free to take by the database's clock (tests, `describe`)."""
        with self._read() as s:
            now = db_now(s)
            row = s.execute(select(_L.expires_at).where(_L.name == name)).first()
            return row is None or not policy.is_live(row.expires_at, now)
