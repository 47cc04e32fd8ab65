"""The compaction job: limits read at each run, failures logged and survived."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import cast

import pytest

from reconciler.service.config import RetentionConfig
from reconciler.service.retention import compact_once, compaction_job
from reconciler.store import Store
from reconciler.store.leases import LeaseLost
from reconciler.store.retention import Compaction


class FakeStore:
    """Records the limits compact() was called with; raises `error` when set."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.calls: list[tuple[float, int]] = []
        self.error = error

    def compact(self, event_ttl: float, keep: int, now: datetime | None = None) -> Compaction:
        if self.error is not None:
            raise self.error
        self.calls.append((event_ttl, keep))
        return Compaction(events=3, revisions=1)


def as_store(fake: FakeStore) -> Store:
    return cast(Store, fake)


class TestCompactionJob:
    def test_each_run_reads_the_current_limits(self) -> None:
        """A reload between runs changes the TTL and revisions of the next run."""
        fake = FakeStore()
        current = [RetentionConfig()]
        job = compaction_job(as_store(fake), lambda: current[0])
        job()
        current[0] = RetentionConfig(event_ttl=60.0, revisions=3)
        job()
        assert fake.calls == [(3600.0, 100), (60.0, 3)]

    def test_a_compaction_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """What went is logged with its counts."""
        with caplog.at_level(logging.INFO, "reconciler.service.retention"):
            assert compact_once(as_store(FakeStore()), RetentionConfig()) == Compaction(3, 1)
        assert "3 expired event(s), 1 old revision(s)" in caplog.text

    @pytest.mark.parametrize("error", [OSError("disk full\nmore"), LeaseLost("lost")])
    def test_a_failure_is_survived(
        self, error: BaseException, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A store error or a lost lease skips this run; nothing escapes to the scheduler."""
        with caplog.at_level(logging.WARNING, "reconciler.service.retention"):
            assert compact_once(as_store(FakeStore(error)), RetentionConfig()) is None
        assert ("disk full" in caplog.text) == isinstance(error, OSError)
        assert "more" not in caplog.text
