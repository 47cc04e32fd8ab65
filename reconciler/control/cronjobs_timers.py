"""The CronJobs' wake-ups: one job of the service's APScheduler per CronJob, that only enqueues.

Between the scheduler (`reconciler.service.app` owns it) and the CronJob
controller (`reconciler.control.cronjobs`): after each sync the controller hands
over the time of the CronJob's next start, computed by the pure planner, and
this keeps one date job per CronJob at that time. Firing only enqueues the
CronJob's key (kopf's rule: a reactor queues, the reconcile decides), so a late
or doubled wake-up is harmless: the reconcile re-reads the store and a start
makes one Job name only. The timers live in the active instance only: the
service builds them after taking the lease, and every CronJob is enqueued by
the resync at start (so they are rebuilt from the store on start and on
takeover), and an instance that loses the lease stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from reconciler.api.types import Key

log = logging.getLogger(__name__)

# Kubernetes' nextScheduleDelta: a wake-up a little after the start, never a little before.
PAD = timedelta(milliseconds=100)


class CronTimers:
    """One APScheduler date job per CronJob; `wake_at` moves it, `cancel` removes it."""

    def __init__(self, scheduler: Any, enqueue: Callable[[Key], None]) -> None:
        self.scheduler = scheduler
        self._enqueue = enqueue
        self._due: dict[Key, datetime] = {}
        self._lock = threading.Lock()

    @staticmethod
    def job_id(key: Key) -> str:
        return f"cronjob:{key.namespace}/{key.name}"

    def _fire(self, key: Key) -> None:
        with self._lock:
            self._due.pop(key, None)  # fired: the next wake_at must add it again
        self._enqueue(key)

    def wake_at(self, key: Key, when: datetime) -> None:
        """Enqueue `key` at `when` (replacing its previous wake-up)."""
        with self._lock:
            if self._due.get(key) == when:
                return
            self._due[key] = when
        # No misfire grace limit: a wake-up that comes late (a busy machine, a start
        # after downtime) still enqueues, and the planner decides what is due.
        self.scheduler.add_job(self._fire, "date", run_date=when + PAD, args=[key],
                               id=self.job_id(key), replace_existing=True,
                               misfire_grace_time=None, coalesce=True)

    def cancel(self, key: Key) -> None:
        with self._lock:
            if self._due.pop(key, None) is None:
                return
        try:
            self.scheduler.remove_job(self.job_id(key))
        except Exception:  # JobLookupError: it fired meanwhile
            log.debug("no timer to cancel for %s", key)

    def due(self) -> Mapping[Key, datetime]:
        """The pending wake-ups (for `describe` and tests)."""
        with self._lock:
            return dict(self._due)


def attach(controllers: Mapping[str, object], scheduler: Any, enqueue: Callable[[Key], None]
           ) -> CronTimers | None:
    """Give the CronJob controller among `controllers` its timers on `scheduler`."""
    from reconciler.control.cronjobs import CRONJOB, CronJobController

    controller = controllers.get(CRONJOB)
    if not isinstance(controller, CronJobController):
        return None
    controller.timers = CronTimers(scheduler, enqueue)
    return controller.timers
