"""The CronJobs' wake-ups on a real APScheduler: one date job per CronJob that only enqueues."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from reconciler.api.types import Key
from reconciler.control.cronjobs_timers import CronTimers

A = Key("CronJob", "default", "a")
B = Key("CronJob", "default", "b")


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    s = BackgroundScheduler(daemon=True)
    yield s
    if s.running:
        s.shutdown(wait=False)


class TestCronTimers:
    def test_a_due_wake_up_enqueues_once(self, scheduler: BackgroundScheduler) -> None:
        """A wake-up added before the scheduler starts, already due, still fires (no misfire
        limit), enqueues its key, and is gone afterwards."""
        fired: queue.Queue[Key] = queue.Queue()
        timers = CronTimers(scheduler, fired.put)
        timers.wake_at(A, datetime.now(UTC) - timedelta(minutes=3))
        scheduler.start()
        assert fired.get(timeout=30) == A
        assert timers.due() == {}
        assert scheduler.get_jobs() == []

    def test_one_job_per_cronjob(self, scheduler: BackgroundScheduler) -> None:
        """Moving a wake-up replaces the CronJob's job; cancel removes it; keys stay apart."""
        timers = CronTimers(scheduler, lambda key: None)
        scheduler.start()
        later = datetime.now(UTC) + timedelta(hours=1)
        timers.wake_at(A, later)
        timers.wake_at(A, later + timedelta(minutes=1))
        timers.wake_at(B, later)
        assert sorted(j.id for j in scheduler.get_jobs()) == ["cronjob:default/a",
                                                               "cronjob:default/b"]
        assert timers.due() == {A: later + timedelta(minutes=1), B: later}
        timers.cancel(A)
        timers.cancel(A)  # twice: harmless
        assert [j.id for j in scheduler.get_jobs()] == ["cronjob:default/b"]
