"""The watch hub on a real store, SQLite and PostgreSQL: a write by another connection
reaches it through the database's own change signal (data_version, LISTEN/NOTIFY)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.kubeapi import watchhub
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.objects import get_object
from reconciler.kubeapi.resources import Resource, resource_for
from reconciler.kubeapi.versions import versions_for
from reconciler.kubeapi.watchhub import Hub
from reconciler.store import Store
from tests.e2e.service import wait_until


def _pods() -> Resource:
    found = resource_for("", "v1", "pods")
    assert found is not None
    return found


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


@pytest.fixture
def hub(store: Store, store_url: str) -> Iterator[Hub]:
    h = Hub(ApiContext(state=store_url))
    yield h
    h.close()


def pod(name: str) -> PodRecord:
    return PodRecord(uid=f"uid-{name}", namespace="default", name=name,
                     spec={"containers": [{"name": "main", "image": "x"}]}, spec_hash="h",
                     created_at=datetime.now(UTC))


class TestHubOnAStore:
    def test_a_write_becomes_events(self, store: Store, hub: Hub) -> None:
        """A pod written, then deleted, through a Store of its own: ADDED, then DELETED,
        with versions that grow."""
        tracked = hub.track(_pods())
        store.upsert_pod(pod("w1"))
        added = wait_until(lambda: [c for c in hub.since(tracked, 0)[0]
                                    if c.type == "ADDED"], 30, what="ADDED w1")
        assert added[0].obj["metadata"]["name"] == "w1"
        store.delete_pod("uid-w1")
        deleted = wait_until(lambda: [c for c in hub.since(tracked, 0)[0]
                                      if c.type == "DELETED"], 30, what="DELETED w1")
        assert deleted[0].rv > added[0].rv
        assert hub.position(tracked, added[0].rv) == added[0].seq

    def test_an_unwatched_hub_stops_its_thread(self, store: Store, hub: Hub,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        """Once nobody watches (LINGER elapsed), the next change ends the hub's thread and
        closes its connection; a new watch starts them again."""
        monkeypatch.setattr(watchhub, "LINGER", 0.0)
        hub.track(_pods())
        thread = hub._thread
        assert isinstance(thread, threading.Thread)
        store.upsert_pod(pod("w2"))
        thread.join(30)
        assert not thread.is_alive() and hub._detector is None
        tracked = hub.track(_pods())
        assert isinstance(hub._thread, threading.Thread) and hub._thread.is_alive()
        assert [o.obj["metadata"]["name"] for _, o in tracked.objects.values()] == ["w2"]

    def test_a_made_up_version_is_not_taken_for_a_later_revision(self, store: Store,
                                                                 hub: Hub) -> None:
        """A node changed (no store revision) is given out at a version the hub made up; a
        write naming it goes through while the node has that content, and conflicts once a
        store revision of that number serves another."""
        found = resource_for("", "v1", "nodes")
        assert found is not None
        now = datetime.now(UTC)
        store.upsert_node(NodeRecord("n1", "unix:///x", now, ready=True, last_heartbeat=now))
        tracked = hub.track(found)
        listed_at = tracked.last_rv
        store.upsert_node(NodeRecord("n1", "unix:///x", now, ready=False, last_heartbeat=now))
        changed = wait_until(lambda: [c for c in hub.since(tracked, 0)[0]
                                      if c.type == "MODIFIED"], 30, what="MODIFIED n1")
        made_up = changed[0].rv
        assert made_up == listed_at + 1
        known = versions_for(hub.ctx.state, hub.ctx.show_secret_data, str(hub.ctx.key_file))
        key = ("Node", "", "n1")
        assert not known.changed_after(key, made_up, listed_at)
        store.upsert_node(NodeRecord("n1", "unix:///x", now, ready=True, last_heartbeat=now))
        for n in range(5):  # pod writes move the store revision on, to `made_up`
            node = get_object(hub.ctx, found, None, "n1")
            assert node is not None
            if int(node["metadata"]["resourceVersion"]) >= made_up:
                break
            store.upsert_pod(pod(f"bump-{n}"))
        assert known.changed_after(key, made_up, made_up)
