"""End to end: CronJobs on the real service and engine, on real `* * * * *` schedules (issue 19).

One service runs three CronJobs at once, so the minutes are shared: `forbid`
(Forbid, a 90 s job: over about four minutes no two of its runs overlap, by the
runs' own start and end times and by sampling Docker, and a start it held back
runs when the previous ends), `replace` (Replace, a 10-minute job: the next minute
deletes the running Job and starts another) and `manual` (a schedule a year away,
run by `reconciler create job --from=cronjob/manual`). `get cronjobs` and `describe
cronjob` are checked on the way. This test takes about 4 to 5 minutes, most of it
waiting for the minutes to come; the restart after two minutes down is in
test_cronjobs_downtime.py (its own file, so the two run on parallel workers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cronjobs_kit import (
    RunningSampler,
    cronjob_yaml,
    finished,
    jobs,
    new_run,
    overlapping,
    runs,
)
from tests.e2e.service import ServiceRun, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


class TestCronJobPolicies:
    def test_forbid_replace_and_manual_run(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """Forbid never overlaps over ~4 minutes, Replace replaces, a manual run completes."""
        folder = tmp_path / "m"
        folder.mkdir()
        run = new_run(tmp_path, svc_factory, folder)
        run.write("forbid.yaml", cronjob_yaml(folder, "forbid", "Forbid", sleep=90,
                                              keep=1))
        run.write("replace.yaml", cronjob_yaml(folder, "replace", "Replace", sleep=600))
        run.write("manual.yaml", cronjob_yaml(folder, "manual", schedule="0 0 1 1 *"))
        run.start()
        forbid = RunningSampler(run.prefix, "forbid")
        try:
            # A manual run, while the minutes come.
            created = run.cli("create", "job", "by-hand", "--from=cronjob/manual")
            assert "job.batch/by-hand created" in created.stdout
            again = run.cli("create", "job", "by-hand", "--from=cronjob/manual", check=False)
            assert again.returncode == 1 and "AlreadyExists" in again.stderr
            done = wait_until(lambda: [j for j in jobs(run, "manual") if finished(j)], 240,
                              what="the manual Job finished")
            annotations = done[0]["metadata"]["annotations"]
            assert annotations["cronjob.kubernetes.io/instantiate"] == "manual"
            assert done[0]["metadata"]["ownerReferences"][0]["name"] == "manual"
            assert finished(done[0]) == "Complete"

            # Replace: a second start deletes the first Job, which never reached its end.
            def replaced() -> list[str]:
                names = [j["metadata"]["name"] for j in jobs(run, "replace")]
                return names if len(runs(folder, "replace")) >= 2 and len(names) == 1 else []

            wait_until(replaced, 240, what="a Replace start replacing the running Job")
            assert all("end" not in r for r in runs(folder, "replace").values())
            # Events are written a moment after the objects (in batches): wait for them.
            wait_until(lambda: "SuccessfulDelete" in (e := run.cli("get", "events").stdout)
                       and "cronjob/replace" in e, 30, what="the CronJob's SuccessfulDelete")

            table = run.cli("get", "cronjobs").stdout
            header = table.splitlines()[0].split()
            assert header[:4] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND"], table
            assert any(line.split()[:2] == ["replace", "*"] for line in table.splitlines())

            # Forbid: three runs, each after the previous ended (a start held back runs late).
            wait_until(lambda: len(runs(folder, "forbid")) >= 3, 360,
                       what="three runs of the Forbid CronJob")
        finally:
            samples = forbid.stop()
        assert overlapping(folder, "forbid") == [], runs(folder, "forbid")
        assert max(samples, default=0) == 1, samples
        describe = run.cli("describe", "cronjob", "forbid").stdout
        for text in ("Concurrency Policy:", "Forbid", "Last Schedule Time:",
                     "Next Schedule Time:", "JobAlreadyActive", "SuccessfulCreate"):
            assert text in describe, describe
        # successfulJobsHistoryLimit 1: of the finished runs only the last is kept.
        wait_until(lambda: sum(1 for j in jobs(run, "forbid") if finished(j)) == 1, 120,
                   what="the history limit applied")
