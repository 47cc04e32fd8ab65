"""The cache follows a real SQLite store that other processes write (the CLI, other hosts)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.api.selectors import parse
from reconciler.api.types import Key
from reconciler.control.cache import Cache, Change
from reconciler.control.follow import Follower, follow, lister
from reconciler.store import Store
from reconciler.store.changes import TokenDetector

# Generous: on a loaded two-core machine a subprocess may take seconds just to start.
LIMIT = 60.0

WRITER = """
import sys
from datetime import UTC, datetime
from reconciler.api.records import PodRecord
from reconciler.api.types import DesiredObject, Key, Position
from reconciler.planning.diff import Change, Plan
from reconciler.store import Store
db, action, name = sys.argv[1:4]
with Store.open(db) as store:
    if action == "pod":
        store.upsert_pod(PodRecord(uid="uid-" + name, namespace="default", name=name,
                                   spec={"containers": []}, spec_hash="h",
                                   created_at=datetime.now(UTC), labels={"app": "web"}))
    elif action == "delete-pod":
        store.delete_pod("uid-" + name)
    elif action == "object":
        body = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"selector": {"app": "web"}}}
        key = Key("Service", "default", name)
        obj = DesiredObject(key, body, Position("svc.yaml"), "hash-" + name)
        store.apply_plan(Plan(changes=(Change("create", key, obj),)), "folder")
"""


def elsewhere(db: Path, action: str, name: str) -> None:
    """Another process writes the store: a pod, a pod's deletion, or a Service."""
    subprocess.run([sys.executable, "-c", WRITER, str(db), action, name],
                   check=True, timeout=LIMIT)


def wait_for(condition: Callable[[], bool], limit: float = LIMIT) -> float:
    """Wait until `condition` holds; returns the seconds it took (reported, never asserted)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit:
            raise AssertionError("the cache did not follow the store")
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(str(tmp_path / "state.db"))
    yield s
    s.close()


@pytest.fixture
def follower(store: Store) -> Iterator[Follower]:
    # A resync far away: what the test sees comes from change detection.
    f = follow(store, resync=3600)
    yield f
    f.stop()


def db_of(store: Store) -> Path:
    return Path(str(store.engine.url.database))


class TestFollower:
    def test_pod_written_elsewhere_appears_then_goes(
        self, store: Store, follower: Follower,
    ) -> None:
        """A pod another process writes shows in the cache and its indexes; its deletion too."""
        cache = follower.cache
        assert cache.synced and cache.pods() == []
        elsewhere(db_of(store), "pod", "web-1")
        wait_for(lambda: cache.pod_by_name("default", "web-1") is not None)
        assert cache.pod_uids("default", parse("app=web")) == {"uid-web-1"}
        elsewhere(db_of(store), "delete-pod", "web-1")
        wait_for(lambda: not cache.pods())
        assert cache.pod_uids(selector=parse("app=web")) == frozenset()

    def test_object_written_elsewhere_appears(self, store: Store, follower: Follower) -> None:
        """A Service applied by another process is in the cache, and selects the pods it should."""
        elsewhere(db_of(store), "object", "web")
        elsewhere(db_of(store), "pod", "web-1")
        cache = follower.cache
        wait_for(lambda: cache.pod("uid-web-1") is not None
                 and cache.object(Key("Service", "default", "web")) is not None)
        pod = cache.pod("uid-web-1")
        assert pod is not None
        assert [str(o.key) for o in cache.selecting(pod)] == ["Service/default/web"]

    def test_feed_reports_writes_elsewhere(self, store: Store, follower: Follower) -> None:
        """Subscribers hear of another process's write as an added pod with a new version."""
        seen: list[Change] = []
        arrived = threading.Event()

        def on_change(change: Change) -> None:
            seen.append(change)
            arrived.set()

        follower.cache.subscribe(on_change)
        before = follower.cache.resource_version
        elsewhere(db_of(store), "pod", "web-2")
        assert arrived.wait(LIMIT)
        assert [(c.kind, c.key, c.old) for c in seen] == [("Pod", "uid-web-2", None)]
        assert seen[0].resource_version == before + 1

    def test_initial_list(self, store: Store) -> None:
        """What the store holds before the follower starts is in the cache when start returns."""
        elsewhere(db_of(store), "pod", "early")
        f = follow(store, resync=3600)
        try:
            assert [p.name for p in f.cache.pods()] == ["early"]
        finally:
            f.stop()

    def test_resync_without_any_signal(self, store: Store) -> None:
        """With a detector that never fires, the periodic resync still brings the write in."""
        silent = TokenDetector(lambda: 0)
        f = Follower(Cache(), silent, lister(store), resync=0.2)
        f.start()
        try:
            elsewhere(db_of(store), "pod", "late")
            wait_for(lambda: f.cache.pod("uid-late") is not None)
            assert f.relists >= 2
        finally:
            f.stop()

    def test_stop_ends_the_thread(self, store: Store) -> None:
        """stop() ends the follower's thread and closes its detector."""
        f = follow(store, resync=3600)
        f.stop()
        assert f._thread is not None and not f._thread.is_alive()
