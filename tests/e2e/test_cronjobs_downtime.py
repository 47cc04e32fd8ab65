"""End to end: a CronJob after the service was stopped for two minutes (issue 19).

A `* * * * *` CronJob runs once; the service is stopped (SIGTERM) for just over
two minutes, so two or three starts pass with no one to make them (two are
enough to tell "one catch-up for all" from "one per missed start"); started again
it makes at most one catch-up Job for all of them (the latest missed start, as
Kubernetes does), and then one Job per minute again. This test takes about 5
minutes: the two minutes down are the scenario itself.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.cronjobs_kit import cronjob_yaml, jobs, new_run, scheduled
from tests.e2e.service import ServiceRun, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

DOWN_SECONDS = 125  # more than two minutes: at least two starts are missed


class TestCronJobDowntime:
    def test_at_most_one_catch_up_after_two_minutes_down(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """Stopped for 2 minutes and started: one catch-up Job for the missed starts."""
        folder = tmp_path / "m"
        folder.mkdir()
        run = new_run(tmp_path, svc_factory, folder)
        run.write("tick.yaml", cronjob_yaml(folder, "tick", sleep=1, keep=10))
        run.start()
        wait_until(lambda: jobs(run, "tick"), 150, what="the first Job")
        run.stop()
        stopped = datetime.now(UTC)
        before = {j["metadata"]["name"] for j in jobs(run, "tick")}
        time.sleep(DOWN_SECONDS)  # the scenario: two minutes with no service
        again = new_run(tmp_path, svc_factory, folder, prefix=run.prefix)
        begin = datetime.now(UTC)
        again.start()
        ready = datetime.now(UTC)

        def made_since_stop() -> list[tuple[str, datetime]]:
            return [(j["metadata"]["name"], scheduled(j) or ready) for j in jobs(again, "tick")
                    if j["metadata"]["name"] not in before]

        wait_until(made_since_stop, 120, what="the catch-up Job")
        # A start after the restart shows the service is past its catch-up.
        wait_until(lambda: any(t > ready for _, t in made_since_stop()), 150,
                   what="the first start after the restart")
        made = made_since_stop()
        # The minutes down (stop to the restart's begin): at most one Job for them all.
        # While the service was starting (begin to READY) a minute may have come: its start
        # is the catch-up, or a regular start after it.
        assert len([t for _, t in made if stopped < t <= begin]) <= 1, made
        starting = (ready.replace(second=0, microsecond=0) - begin.replace(
            second=0, microsecond=0)) // timedelta(minutes=1)
        assert 1 <= len([t for _, t in made if stopped < t <= ready]) <= 1 + starting, made
        events = again.cli("describe", "cronjob", "tick").stdout
        assert "TooManyMissedTimes" not in events, events
