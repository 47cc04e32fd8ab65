"""Who may hold a lease, and the holder's own clock of it (pure).

The store (`reconciler.store.leases.LeasesMixin`) reads the lease's row and the
database's clock inside its write transaction, asks `acquire` what to write, and
writes it with one conditional statement. The rules:

- A lease is live while its expiry is later than now (`is_live`); a released lease
  has expired (the store sets its expiry to the moment of release).
- A live lease held by another holder cannot be taken.
- Renewing our own live hold keeps the epoch and the time it was acquired; taking
  the lease in any other way (never taken, expired, released, even by ourselves)
  raises the epoch by one, starting at 1, so a fenced write of the previous hold
  fails.
- The new hold lasts `ttl` seconds from now.

`LeaseClock` is the holder's own, cheap view for Docker actions: valid until
(monotonic time when the last successful renew started) + ttl - margin. The
monotonic clock runs on while a process is stopped, so a leader resumed after
SIGSTOP refuses to act until a renew succeeds, and after a takeover none can.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["FIRST_EPOCH", "Grant", "Hold", "LeaseClock", "acquire", "expiry", "is_live"]

FIRST_EPOCH = 1


@dataclass(frozen=True)
class Hold:
    """What the lease's row says: its holder ("" once released), expiry and epoch."""

    holder: str
    expires_at: datetime
    epoch: int


@dataclass(frozen=True)
class Grant:
    """What to write for `holder`: the new expiry and epoch; `taken` when the hold is new
    (holder, acquired time and epoch are then written), False for a renewal of a live hold."""

    expires_at: datetime
    epoch: int
    taken: bool


def expiry(now: datetime, ttl: float) -> datetime:
    """When a hold renewed or taken at `now` for `ttl` seconds expires."""
    return now + timedelta(seconds=ttl)


def is_live(expires_at: datetime, now: datetime) -> bool:
    """Whether a hold expiring at `expires_at` still holds at `now`."""
    return expires_at > now


def acquire(current: Hold | None, holder: str, now: datetime, ttl: float) -> Grant | None:
    """What `holder` may write at `now` given the row (`None`: never taken); None: refused."""
    if current is None:
        return Grant(expiry(now, ttl), FIRST_EPOCH, taken=True)
    live = is_live(current.expires_at, now)
    if live and current.holder != holder:
        return None
    if live:
        return Grant(expiry(now, ttl), current.epoch, taken=False)
    return Grant(expiry(now, ttl), current.epoch + 1, taken=True)


class LeaseClock:
    """The holder's local knowledge of its lease, for checks too frequent for a query.

    `renew_started()` before each renew, `renewed(at)` after a successful one;
    `valid()` is what the Docker driver asks before every mutating call.
    """

    def __init__(self, ttl: float, margin: float) -> None:
        self.ttl = ttl
        self.margin = margin
        self._deadline = 0.0
        self.confirmed = 0.0  # monotonic start of the last renew that succeeded
        self._lock = threading.Lock()

    @staticmethod
    def now() -> float:
        """The monotonic clock the deadline is kept in."""
        return time.monotonic()

    def renewed(self, started: float) -> None:
        """A renew (or acquire) that started at monotonic `started` succeeded."""
        with self._lock:
            self._deadline = max(self._deadline, started + self.ttl - self.margin)
            self.confirmed = max(self.confirmed, started)

    def revoke(self) -> None:
        """Stop acting at once (lease lost, or the store unreachable past the ttl)."""
        with self._lock:
            self._deadline = 0.0

    def valid(self) -> bool:
        """True while our last confirmed hold cannot have expired, whatever happened since."""
        return time.monotonic() < self._deadline

    def remaining(self) -> float:
        """Seconds left of the local hold (negative once past it)."""
        return self._deadline - time.monotonic()
