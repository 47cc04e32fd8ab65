"""Retention in the real store: expired events and old revisions go, the rest stays.

`any_store` runs each test on SQLite and PostgreSQL (tests/conftest.py). The soak
replaces pods through the store API, as the controllers do, and holds the SQLite
file to a stated size.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.api.records import ContainerStatus, EventRecord, PodRecord
from reconciler.store import Store
from reconciler.store.retention import Compaction
from reconciler.ui.pages import OVERVIEW_EVENTS, Filter, overview

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0
# Replacements with 6 events each and a revision every 10th, a 10-minute TTL and a
# compaction every 10 replacements. Measured: 228 KiB after 200 and still 228 KiB after
# 1,000 (the freed pages are reused); without the compaction 616 KiB and 2,428 KiB. The
# bound leaves room for page layout, not for growth; 200 keeps the test short.
SOAK_REPLACEMENTS = 200
SOAK_BOUND = 512 * 1024


def event(name: str, reason: str, message: str = "") -> EventRecord:
    return EventRecord("default", "Pod", name, "Normal", reason, message or reason, "kubelet")


def pod(name: str, uid: str) -> PodRecord:
    return PodRecord(uid=uid, namespace="default", name=name, spec={"containers": []},
                     spec_hash="h", created_at=T0, node_name="n1", phase="Running",
                     containers=[ContainerStatus("c", "img", state="running")])


class TestCompaction:
    def test_expired_events_go_newer_stay(self, any_store: Store) -> None:
        """Events last seen before the TTL are deleted; those within it are all kept."""
        any_store.record_events([event(f"old-{i}", "Pulled") for i in range(300)], now=T0)
        recent = T0 + timedelta(minutes=59)
        any_store.record_events([event(f"new-{i}", "Started") for i in range(20)], now=recent)
        done = any_store.compact(HOUR, 100, now=T0 + timedelta(minutes=61))
        assert done == Compaction(events=300, revisions=0)
        left = any_store.list_events()
        assert sorted(e.name for e in left) == sorted(f"new-{i}" for i in range(20))

    def test_a_repeat_keeps_an_event_alive(self, any_store: Store) -> None:
        """An event first seen long ago but repeated within the TTL stays, with its count."""
        any_store.record_event(event("web", "BackOff"), now=T0)
        any_store.record_event(event("web", "BackOff"), now=T0 + timedelta(minutes=50))
        assert any_store.compact(HOUR, 100, now=T0 + timedelta(minutes=70)).events == 0
        [kept] = any_store.list_events("default", "Pod", "web")
        assert (kept.count, kept.first_seen) == (2, T0)

    def test_revisions_keep_the_newest(self, any_store: Store) -> None:
        """Only the configured number of revisions stays, newest first, the applied one last."""
        for i in range(30):
            any_store.set_revision(f"sha{i:02d}", "git", now=T0 + timedelta(minutes=i))
        assert any_store.compact(HOUR, 5, now=T0).revisions == 25
        assert [r.revision for r in any_store.revisions(100)] == [
            "sha29", "sha28", "sha27", "sha26", "sha25"]
        assert any_store.prune_revisions(0) == 4
        applied = any_store.revision()
        assert applied is not None and applied.revision == "sha29"

    def test_an_empty_store_compacts_to_nothing(self, any_store: Store) -> None:
        """Nothing to delete is not an error."""
        assert any_store.compact(HOUR, 1) == Compaction(events=0, revisions=0)


def file_size(path: Path) -> int:
    """The database with its write-ahead log folded in, as it would be after a restart."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


class TestSoak:
    def test_pod_replacements_keep_the_store_bounded(self, tmp_path: Path) -> None:
        """SOAK_REPLACEMENTS pod replacements with their events stay under SOAK_BOUND."""
        path = tmp_path / "state.db"
        with Store.open(str(path)) as store:
            previous: PodRecord | None = None
            for i in range(SOAK_REPLACEMENTS):
                now = T0 + timedelta(minutes=i)
                name = f"web-{i:04d}"
                store.upsert_pod(pod(name, f"uid-{i:04d}"))
                store.record_events(
                    [event(name, r, f"{r} pod {name} on n1 at {now.isoformat()}")
                     for r in ("Scheduled", "Pulling", "Pulled", "Created", "Started")],
                    now=now)
                if previous is not None:
                    store.record_event(event(previous.name, "Killing"), now=now)
                    assert store.delete_pod(previous.uid)
                if i % 10 == 0:
                    store.set_revision(f"{i:040x}", "git", now=now)
                    store.compact(600.0, 10, now=now)
                previous = pod(name, f"uid-{i:04d}")
            store.compact(600.0, 10, now=now)
            # What is left is one TTL's worth of events and the kept revisions.
            assert len(store.list_events()) <= 6 * 11
            assert len(store.revisions(1000)) == 10
            assert len(store.list_pods()) == 1
        assert file_size(path) < SOAK_BOUND


class TestOverviewWindow:
    def test_the_overview_reads_the_newest_events_only(self, any_store: Store) -> None:
        """A warning older than the newest OVERVIEW_EVENTS events is not read; a new one is."""
        warning = EventRecord("default", "Pod", "web", "Warning", "BackOff", "x", "kubelet")
        any_store.record_event(warning, now=T0)
        any_store.record_events(
            [event(f"p{i}", "Pulled") for i in range(OVERVIEW_EVENTS)],
            now=T0 + timedelta(minutes=1))
        any_store.record_event(EventRecord("default", "Pod", "api", "Warning", "Failed", "y",
                                           "kubelet"), now=T0 + timedelta(minutes=2))
        shown = overview(any_store, Filter())["warnings"]
        assert [e.name for e in shown] == ["api"]
