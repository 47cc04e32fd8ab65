"""End to end: a CronJob's timers move with the lease, never firing in two instances (issue 19).

A `* * * * *` CronJob under instance A, with B waiting on the same store: B must
not fire while A holds the lease (one Job, one run per minute); after `kill -9`
of A, B takes the lease, rebuilds the timers from the store and goes on making
one Job per minute. About 3 minutes: two or three real minutes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cronjobs_kit import cronjob_yaml, jobs, runs, scheduled
from tests.e2e.service import ServiceRun, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

LEASE = {"RECONCILER_LEASE_TTL": "3s", "RECONCILER_LEASE_RENEW": "1s"}


def instance(tmp_path: Path, svc_factory: list[ServiceRun], folder: Path,
             prefix: str | None = None) -> ServiceRun:
    run = ServiceRun(tmp_path, prefix=prefix, extra_env={
        **LEASE, "RECONCILER_RUNTIME_HOST_PATH_ALLOW": str(folder),
        "RECONCILER_NETWORK_PROXY_MODE": "off"})
    svc_factory.append(run)
    return run


class TestCronJobTakeover:
    def test_standby_never_fires_and_takes_the_timers_over(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """While A is active B makes nothing; after kill -9 of A, B makes the next starts;
        every start is one Job with one run."""
        folder = tmp_path / "m"
        folder.mkdir()
        a = instance(tmp_path, svc_factory, folder)
        a.write("tick.yaml", cronjob_yaml(folder, "tick", sleep=1, keep=20))
        a.start()
        b = instance(tmp_path, svc_factory, folder, prefix=a.prefix).start(wait_ready=False)
        wait_until(lambda: "standby" in b.output(), 30, what="B saying standby")
        first = wait_until(lambda: jobs(a, "tick"), 150, what="A's first Job")
        a.kill9()
        b.wait_notify("READY=1", 60)
        taken = {j["metadata"]["name"] for j in jobs(b, "tick")} | {
            j["metadata"]["name"] for j in first}

        def later() -> list[str]:
            made = [j["metadata"]["name"] for j in jobs(b, "tick")
                    if j["metadata"]["name"] not in taken]
            return made if made and len(runs(folder, "tick")) >= len(taken) + len(made) \
                else []

        wait_until(later, 150, what="a Job B made after the takeover, and its run")
        all_jobs = jobs(b, "tick")
        minutes = [scheduled(j) for j in all_jobs]
        assert None not in minutes and len(set(minutes)) == len(minutes), minutes
        started = runs(folder, "tick")
        # One run per Job: no start made by both, none made twice.
        per_job: dict[str, int] = {}
        for pod in started:
            job = pod.rsplit("-", 1)[0]
            per_job[job] = per_job.get(job, 0) + 1
        assert all(n == 1 for n in per_job.values()), per_job
        assert set(per_job) <= {j["metadata"]["name"] for j in all_jobs}, (per_job, all_jobs)
