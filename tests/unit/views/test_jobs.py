"""`get jobs` cells: COMPLETIONS and DURATION as kubectl prints them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.api.types import Key
from reconciler.store.records import ObjectRecord
from reconciler.views.jobs import completions, duration, job_cells

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def record(spec: dict[str, Any], status: dict[str, Any] | None) -> ObjectRecord:
    body = {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "default"}, "spec": spec}
    return ObjectRecord(Key("Job", "default", "j"), "uid-1", "batch/v1", body, "j.yaml", 1, 0,
                        "h", "folder", 1, False, status, T0, T0)


class TestJobCells:
    @pytest.mark.parametrize(("spec", "succeeded", "text"), [
        ({"completions": 5, "parallelism": 2}, 3, "3/5"),
        ({"parallelism": 3}, 1, "1/1 of 3"),
        ({"parallelism": 1}, 0, "0/1"),
    ])
    def test_completions(self, spec: dict[str, Any], succeeded: int, text: str) -> None:
        """succeeded/completions; a work queue says "of parallelism" as kubectl does."""
        assert completions(record(spec, {"succeeded": succeeded})) == text

    def test_duration_running_finished_unstarted(self) -> None:
        """Start to completion once complete, start to now while running, empty unstarted."""
        now = T0 + timedelta(minutes=5)
        running = record({}, {"startTime": "2024-01-01T00:00:00Z"})
        done = record({}, {"startTime": "2024-01-01T00:00:00Z",
                           "completionTime": "2024-01-01T00:00:13Z"})
        assert duration(running, now) == "5m"
        assert duration(done, now) == "13s"
        assert duration(record({}, None), now) == ""

    def test_wide_selector_is_the_controller_uid(self) -> None:
        """The wide SELECTOR column is the controller-uid label the pods carry."""
        _cells, wide = job_cells(record({"template": {"spec": {"containers": [
            {"name": "w", "image": "b:1"}]}}}, {}), T0)
        assert wide == ["w", "b:1", "batch.kubernetes.io/controller-uid=uid-1"]
