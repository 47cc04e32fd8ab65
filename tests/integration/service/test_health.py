"""Component health published into a real store (`reconciler.service.health`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.api.records import NodeRecord
from reconciler.service import health
from reconciler.service.health import Health, HealthBoard
from reconciler.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "state.db"))
    s.upsert_node(NodeRecord("local", "unix://", datetime.now(UTC), ready=True))
    return s


class TestHealthBoard:
    def test_unchanged_health_is_not_written_again(self, store: Store) -> None:
        """A second publish with nothing changed writes nothing; the rows stay as they were."""
        board = HealthBoard()
        board.set("scheduler", Health(True, "ok"))
        board.publish(store, None)
        commits = store.own_commits
        board.publish(store, None)
        assert store.own_commits == commits
        assert {c.name for c in store.list_components()} >= {"scheduler", "node/local", "store"}

    def test_a_change_is_written_at_once(self, store: Store) -> None:
        """A component whose health changed is in the store after the next publish."""
        board = HealthBoard()
        board.set("proxy", Health(True, "iptables mode"))
        board.publish(store, None)
        board.set("proxy", Health(False, "3 sync errors"))
        board.publish(store, None)
        proxy = next(c for c in store.list_components() if c.name == "proxy")
        assert (proxy.healthy, proxy.message) == (False, "3 sync errors")

    def test_unchanged_health_is_refreshed(self, store: Store,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
        """After REFRESH seconds the same health is written again, so its age shows life."""
        board = HealthBoard()
        board.publish(store, None)
        first = {c.name: c.updated_at for c in store.list_components()}
        monkeypatch.setattr(health, "REFRESH", 0.0)
        board.publish(store, None)
        again = {c.name: c.updated_at for c in store.list_components()}
        assert again.keys() == first.keys()
        assert all(again[name] > first[name] for name in first)
