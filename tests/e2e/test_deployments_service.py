"""End to end: Deployments behind a Service under a request stream (issue 16).

A rolling update of 4 ready replicas fails no request; a template that never
becomes ready stops at maxUnavailable and keeps serving. These run the service
proxy, so they hold the machine-wide network lock (tests/support/machine_lock.py)
and run in its one chain; the rest of the Deployment tests are in
test_deployments.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.deployments_kit import (
    WEB_SVC,
    Hammer,
    RolloutWatch,
    condition,
    rolled,
    sizes,
    start,
    status,
    web,
)
from tests.e2e.service import ServiceRun, wait_until
from tests.e2e.services_kit import cluster_ip
from tests.support.machine_lock import MACHINE_NETWORK

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600), MACHINE_NETWORK]


class TestZeroDowntime:
    def test_rolling_update_behind_a_service_fails_no_request(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """4 ready replicas behind a Service: a template change rolls all 4 under a request
        stream with 0 failures, and the new pods answer at the end."""
        run = start(svc_factory, tmp_path, proxy=True)
        run.write("web-svc.yaml", WEB_SVC)
        run.start()
        cip = cluster_ip(run, "web")
        run.write("web.yaml", web("v1"))
        wait_until(lambda: rolled(run, 4), 90, what="v1 rolled out")
        wait_until(lambda: Hammer(cip).stop_after(1.0).get("v1"), 30, what="v1 answering")
        watch = RolloutWatch(run)
        hammer = Hammer(cip)
        try:
            time.sleep(1)
            run.write("web.yaml", web("v2"))
            wait_until(lambda: len(sizes(run)) == 2 and rolled(run, 4), 120, what="v2 rolled out")
            wait_until(lambda: "v1" not in Hammer(cip).stop_after(1.0), 30,
                       what="only v2 answering")
        finally:
            got = hammer.stop()
            watch.stop()
        print(f"\nrequests during the rollout: {dict(got)}")
        assert got["FAIL"] == 0, got
        assert got["v1"] > 0 and got["v2"] > 0, got
        assert watch.max_live() <= 5 and watch.min_ready() >= 3, \
            [(s.live, s.ready) for s in watch.samples]

    def test_never_ready_template_stops_at_max_unavailable(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """New pods that never become ready: 3 old keep serving, 2 new wait, 0 failed
        requests, Progressing turns False with ProgressDeadlineExceeded."""
        run = start(svc_factory, tmp_path, proxy=True)
        run.write("web-svc.yaml", WEB_SVC)
        run.start()
        cip = cluster_ip(run, "web")
        run.write("web.yaml", web("v1", deadline=15))
        wait_until(lambda: rolled(run, 4), 90, what="v1 rolled out")
        wait_until(lambda: Hammer(cip).stop_after(1.0).get("v1"), 30, what="v1 answering")
        [old] = sizes(run)
        hammer = Hammer(cip)
        try:
            run.write("web.yaml", web("v2", ready=False, deadline=15))
            wait_until(lambda: condition(run, "Progressing").get("reason")
                       == "ProgressDeadlineExceeded", 90, what="the progress deadline")
        finally:
            got = hammer.stop()
        print(f"\nrequests during the stuck rollout: {dict(got)}")
        assert got["FAIL"] == 0 and "v2" not in got, got
        assert condition(run, "Progressing")["status"] == "False"
        assert condition(run, "Available")["status"] == "True"
        now = sizes(run)
        assert now[old] == 3 and sorted(now.values()) == [2, 3], now
        s = status(run)
        assert (s["availableReplicas"], s["updatedReplicas"]) == (3, 2), s

