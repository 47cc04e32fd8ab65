"""The background compaction job: expired events and old revisions leave the store.

Scheduled by reconciler.service.app on the service's APScheduler every
`retention.interval`; the work itself is `Store.compact` (reconciler.store.retention).
The config is read at each run, so a SIGHUP that changes the TTL or the revisions
kept applies at the next run without rescheduling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from reconciler.service.config import RetentionConfig
from reconciler.store.leases import LeaseLost
from reconciler.store.retention import Compaction
from reconciler.store.store import Store

log = logging.getLogger("reconciler.service.retention")

JOB_ID = "retention"


def compact_once(store: Store, retention: RetentionConfig) -> Compaction | None:
    """One compaction; None when it could not run now (the next one will)."""
    try:
        done = store.compact(retention.event_ttl, retention.revisions)
    except LeaseLost:
        return None  # standing down: the next holder compacts
    except Exception as e:
        # A store busy past its timeout or a full disk: retention is housekeeping, and
        # failing it must not take the scheduler thread (or the service) with it.
        log.warning("store compaction skipped: %s", str(e).split("\n")[0])
        return None
    if done.events or done.revisions:
        log.info("store compacted: %d expired event(s), %d old revision(s) deleted",
                 done.events, done.revisions)
    return done


def compaction_job(store: Store, retention: Callable[[], RetentionConfig]) -> Callable[[], None]:
    """The scheduler's callable: compacts with the configuration current at each run."""

    def run() -> None:
        compact_once(store, retention())

    return run
