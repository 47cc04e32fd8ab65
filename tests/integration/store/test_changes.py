"""Change detection on a real SQLite store: another process's commit is seen, quiet is quiet."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.control.follow import follow
from reconciler.store import Store, changes
from reconciler.store.changes import (
    DataVersionDetector,
    PeriodicDetector,
    TokenDetector,
    detector_for,
)
from reconciler.store.feeds import TOPICS
from reconciler.store.filewatch import FileWatch

WRITE_POD = """
import sys
from datetime import UTC, datetime
from reconciler.api.records import PodRecord
from reconciler.store import Store
with Store.open(sys.argv[1]) as store:
    store.upsert_pod(PodRecord(uid=sys.argv[2], namespace="default", name=sys.argv[2],
                               spec={"containers": []}, spec_hash="h",
                               created_at=datetime.now(UTC)))
"""


def write_pod_elsewhere(db: Path, uid: str) -> None:
    """Another process opens the store and writes one pod."""
    subprocess.run([sys.executable, "-c", WRITE_POD, str(db), uid], check=True, timeout=60)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "state.db"
    Store.open(str(path)).close()
    yield path


class TestDataVersionDetector:
    def test_quiet_store_is_quiet(self, db: Path) -> None:
        """Without writes, the detector reports nothing."""
        detector = DataVersionDetector(str(db), interval=0.01)
        try:
            assert not detector.changed()
            assert not detector.wait(0.2)
        finally:
            detector.close()

    def test_another_process_write_is_seen_once(self, db: Path) -> None:
        """A commit by another process fires the detector, once."""
        detector = DataVersionDetector(str(db))
        try:
            write_pod_elsewhere(db, "p1")
            assert detector.wait(30)
            assert not detector.changed()
        finally:
            detector.close()

    def test_reads_do_not_fire(self, db: Path) -> None:
        """Another connection reading the store is not a change."""
        detector = DataVersionDetector(str(db))
        try:
            with Store.open(str(db)) as store:
                store.list_pods()
                store.objects()
            assert not detector.changed()
        finally:
            detector.close()

    def test_this_process_pool_writes_fire_too(self, db: Path) -> None:
        """The store's own pooled connections are other connections: their commits fire it.

        This is SQLite's rule for data_version, and why a writer-aware counter is needed
        before the follower can skip this process's own writes.
        """
        detector = DataVersionDetector(str(db))
        try:
            with Store.open(str(db)) as store:
                store.set_revision("folder", "/src")
            assert detector.changed()
        finally:
            detector.close()

    def test_missing_store_is_not_created(self, tmp_path: Path) -> None:
        """Watching a store that does not exist fails and leaves no empty file behind."""
        missing = tmp_path / "none.db"
        with pytest.raises(sqlite3.OperationalError):
            DataVersionDetector(str(missing))
        assert not missing.exists()

    def test_path_with_odd_characters(self, tmp_path: Path) -> None:
        """A store path with a space, "#" and "%" is watched as that file."""
        odd = tmp_path / "my store #1%.db"
        Store.open(str(odd)).close()
        detector = DataVersionDetector(str(odd))
        try:
            write_pod_elsewhere(odd, "p1")
            assert detector.wait(30)
        finally:
            detector.close()

    def test_close_ends_a_wait(self, db: Path) -> None:
        """close() from another thread ends a long wait with False."""
        detector = DataVersionDetector(str(db))
        result: list[bool] = []
        waiter = threading.Thread(target=lambda: result.append(detector.wait(600)))
        waiter.start()
        detector.close()
        waiter.join(30)
        assert not waiter.is_alive() and result == [False]


def write_raw(db: Path) -> None:
    """A commit on a second, plain sqlite3 connection (no store code involved)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS scratch (x INTEGER)")
        conn.execute("INSERT INTO scratch VALUES (1)")
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(params=[True, False], ids=["watched", "timed"])
def watching(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Pollers woken by inotify on the store's files, or reading on a timer alone."""
    monkeypatch.setattr(changes, "WATCH_FILES", request.param)
    return bool(request.param)


@pytest.fixture
def three(db: Path, watching: bool) -> Iterator[list[DataVersionDetector]]:
    """Three detectors of one store file, as the feed, the request listener and the
    cache follower of one service hold them."""
    detectors = [DataVersionDetector(str(db)) for _ in range(3)]
    yield detectors
    for d in detectors:
        d.close()


class TestSharedPoller:
    def test_one_poller_per_file(self, db: Path, three: list[DataVersionDetector]) -> None:
        """Detectors of one file (by any spelling of its path) share one poller."""
        spelled = DataVersionDetector(str(db.parent / "." / db.name))
        try:
            assert all(d.poller is three[0].poller for d in [*three, spelled])
        finally:
            spelled.close()

    def test_each_subscriber_sees_a_change_once(
        self, db: Path, three: list[DataVersionDetector],
    ) -> None:
        """One foreign commit fires every subscriber, each exactly once."""
        write_raw(db)
        assert [d.wait(30) for d in three] == [True, True, True]
        assert [d.changed() for d in three] == [False, False, False]

    def test_a_foreign_write_wakes_every_waiter(
        self, db: Path, three: list[DataVersionDetector],
    ) -> None:
        """Subscribers blocked in wait() on their own threads all wake for one commit."""
        results: list[bool] = []
        waiters = [threading.Thread(target=lambda d=d: results.append(d.wait(600)))
                   for d in three]
        for w in waiters:
            w.start()
        write_raw(db)
        for w in waiters:
            w.join(60)
        assert results == [True, True, True]

    def test_closing_one_leaves_the_others(
        self, db: Path, three: list[DataVersionDetector],
    ) -> None:
        """A closed subscriber reports nothing; the others still see each change."""
        first, *others = three
        first.close()
        write_raw(db)
        assert [d.wait(30) for d in others] == [True, True]
        assert not first.changed() and not first.wait(0.1)
        write_raw(db)
        assert [d.wait(30) for d in others] == [True, True]

    def test_a_new_subscriber_sees_only_later_commits(
        self, db: Path, three: list[DataVersionDetector],
    ) -> None:
        """A commit made before a subscriber joined fires the others, not it."""
        write_raw(db)
        late = DataVersionDetector(str(db))
        try:
            assert not late.changed()
            assert [d.changed() for d in three] == [True, True, True]
            write_raw(db)
            assert late.wait(30)
        finally:
            late.close()

    def test_the_last_close_stops_the_poller(self, db: Path) -> None:
        """With no subscriber left the poller closes; the next detector gets a new one."""
        first = DataVersionDetector(str(db))
        poller = first.poller
        first.close()
        again = DataVersionDetector(str(db))
        try:
            assert again.poller is not poller
            write_raw(db)
            assert again.wait(30)
        finally:
            again.close()


class Recording(DataVersionDetector):
    """A subscriber that also says when its poller fired it (no read of its own)."""

    def __init__(self, path: str, interval: float) -> None:
        self.fired = threading.Event()
        super().__init__(path, interval)

    def fire(self) -> None:
        super().fire()
        self.fired.set()


class TestFileWatch:
    def test_a_commit_wakes_the_poller_without_its_timer(
        self, db: Path, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """With the store's files watched, a foreign commit fires a subscriber whose poller
        would otherwise not read data_version for an hour."""
        monkeypatch.setattr(changes, "WATCH_FILES", True)
        monkeypatch.setattr(changes, "SAFETY_POLL", 3600.0)
        detector = Recording(str(db), interval=3600.0)
        try:
            write_raw(db)
            assert detector.fired.wait(30)
            assert detector.changed() and not detector.changed()
        finally:
            detector.close()

    def test_other_files_of_the_directory_do_not_count(self, db: Path) -> None:
        """A file written beside the store is not a write of it; the store's commit is."""
        watch = FileWatch.open(str(db))
        assert watch is not None  # Linux: inotify
        try:
            (db.parent / "beside.log").write_text("x")
            assert not watch.wait(0)
            write_raw(db)
            assert watch.wait(30)
        finally:
            watch.close()


class TestConsumersOfOneProcess:
    def test_each_follows_another_process(self, db: Path) -> None:
        """The proxies' feed, the request listener's signal and the cache follower share one
        poller, and each of them follows a pod that another process writes."""
        store = Store.open(str(db))
        feed = store.feed()
        requests = store.requests_detector()
        follower = follow(store, resync=3600)  # a resync far away: only the signal counts
        try:
            assert isinstance(requests, DataVersionDetector)
            assert isinstance(follower.detector, DataVersionDetector)
            assert isinstance(feed.detector, DataVersionDetector)
            assert feed.detector.poller is requests.poller is follower.detector.poller
            assert feed.wait(0) == TOPICS  # the first answer: read everything
            write_pod_elsewhere(db, "p1")
            topics: set[str] = set()
            while "pods" not in topics and (got := feed.wait(30)):
                topics |= got
            assert "pods" in topics
            assert requests.wait(30)
            deadline = time.monotonic() + 60
            while follower.cache.pod("p1") is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert follower.cache.pod("p1") is not None
        finally:
            follower.stop()
            requests.close()
            feed.close()
            store.close()


class TestTokenDetector:
    def test_changed_token(self) -> None:
        """A different token is one change; the same token again is none."""
        tokens = iter([1, 1, 2, 2, 2])
        detector = TokenDetector(lambda: next(tokens), interval=0.001)
        assert not detector.changed()
        assert detector.changed()
        assert not detector.changed()


class TestPeriodicDetector:
    def test_fires_each_period(self) -> None:
        """The fallback says "maybe changed" once per period."""
        detector = PeriodicDetector(period=0.05)
        assert detector.wait(30)
        assert not detector.changed()
        detector.close()


class TestDetectorFor:
    def test_sqlite_gets_data_version(self, db: Path) -> None:
        """A SQLite store, by path or URL, gets the data_version detector."""
        for url in (str(db), f"sqlite:///{db}"):
            detector = detector_for(url)
            assert isinstance(detector, DataVersionDetector)
            detector.close()

    def test_other_databases_get_the_periodic_fallback(self) -> None:
        """PostgreSQL has no cheap signal here yet: a periodic relist (LISTEN/NOTIFY later)."""
        detector = detector_for("postgresql+psycopg://u@localhost/x")
        assert isinstance(detector, PeriodicDetector)
        detector.close()
