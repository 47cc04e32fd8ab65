"""The lease on a real SQLite file: the database's clock, the epoch, the fence.

The lease and fence tests also run on PostgreSQL, each in a database of its
own on the suite's throw-away cluster (`any_store`, tests/conftest.py).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.api.records import NodeRecord
from reconciler.store import Store
from reconciler.store import base as store_base
from reconciler.store.leases import LeaseLost

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(str(tmp_path / "state.db"))
    yield s
    s.close()


# `any_store` (SQLite, then a PostgreSQL database of its own) is in tests/conftest.py.


def skew_local_clock(monkeypatch: pytest.MonkeyPatch, to: datetime) -> None:
    """Every local clock the store could read (its `utcnow`s and `time.time`) shows `to`."""
    for name, module in list(sys.modules.items()):
        if name.startswith("reconciler.store") and hasattr(module, "utcnow"):
            monkeypatch.setattr(module, "utcnow", lambda: to)
    monkeypatch.setattr(time, "time", lambda: to.timestamp())


def wait_expired(store: Store, name: str) -> None:
    """Wait (generously) until the database's clock says the lease has expired."""
    deadline = time.monotonic() + 30
    while not store.lease_expired(name):
        assert time.monotonic() < deadline, "lease never expired"
        time.sleep(0.02)


class TestLeases:
    def test_acquire_renew_release(self, any_store: Store) -> None:
        """Only one holder at a time; renewal keeps it, release lets another take over."""
        assert any_store.try_acquire("leader", "a", 10)
        assert not any_store.try_acquire("leader", "b", 10)
        assert any_store.renew("leader", "a", 10)
        assert not any_store.renew("leader", "b", 10)
        assert not any_store.release("leader", "b") and any_store.release("leader", "a")
        assert any_store.try_acquire("leader", "b", 10)
        lease = any_store.get_lease("leader")
        assert lease is not None and lease.holder == "b"

    def test_expiry_lets_another_take_over(self, any_store: Store) -> None:
        """A hold not renewed within its ttl is taken by the next instance."""
        assert any_store.try_acquire("leader", "a", 0.05)
        wait_expired(any_store, "leader")
        lease = any_store.try_acquire("leader", "b", 10)
        assert lease is not None and lease.holder == "b"
        assert not any_store.renew("leader", "a", 10)

    def test_epoch_rises_on_each_takeover(self, any_store: Store) -> None:
        """The epoch starts at 1, stays on renewal, and rises with each new holder."""
        # Each hold is long while the test needs it live (a loaded machine can take 50 ms
        # between two calls), then shortened by its own holder to let it expire.
        first = any_store.try_acquire("leader", "a", 10)
        assert first is not None and first.epoch == 1
        again = any_store.try_acquire("leader", "a", 0.05)
        assert again is not None and again.epoch == 1
        wait_expired(any_store, "leader")
        second = any_store.try_acquire("leader", "b", 10)
        assert second is not None and second.epoch == 2
        shortened = any_store.try_acquire("leader", "b", 0.05)
        assert shortened is not None and shortened.epoch == 2
        wait_expired(any_store, "leader")
        third = any_store.try_acquire("leader", "a", 10)
        assert third is not None and third.epoch == 3

    def test_release_keeps_the_epoch(self, any_store: Store) -> None:
        """Release clears the holder but keeps the row, so the next holder's epoch is higher."""
        taken = any_store.try_acquire("leader", "a", 10)
        assert taken is not None and any_store.release("leader", "a", taken.epoch)
        released = any_store.get_lease("leader")
        assert released is not None and (released.holder, released.epoch) == ("", 1)
        assert any_store.lease_expired("leader")
        nxt = any_store.try_acquire("leader", "b", 10)
        assert nxt is not None and nxt.epoch == 2

    def test_renew_with_a_stale_epoch_fails(self, any_store: Store) -> None:
        """A holder that re-took its own expired lease cannot renew with the old epoch."""
        old = any_store.try_acquire("leader", "a", 0.05)
        assert old is not None
        wait_expired(any_store, "leader")
        new = any_store.try_acquire("leader", "a", 10)
        assert new is not None and new.epoch == old.epoch + 1
        assert not any_store.renew("leader", "a", 10, old.epoch)
        assert any_store.renew("leader", "a", 10, new.epoch)


class TestDatabaseClock:
    def test_now_is_sqlites_clock(self, store: Store, tmp_path: Path) -> None:
        """The lease's times come from SQLite's clock and the expiry is renewal + ttl."""
        with sqlite3.connect(tmp_path / "state.db") as db:
            before = datetime.fromisoformat(
                db.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").fetchone()[0]
            ).replace(tzinfo=UTC)
        lease = store.try_acquire("leader", "a", 7)
        assert lease is not None
        assert lease.renewed_at >= before
        assert lease.expires_at - lease.renewed_at == timedelta(seconds=7)

    def test_skewed_local_clock_does_not_take_a_live_lease(
        self, any_store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A standby whose local clock runs 1 h ahead does not take a lease renewed 0 s before."""
        assert any_store.try_acquire("leader", "a", 10)
        assert any_store.renew("leader", "a", 10)
        ahead = datetime.now(UTC) + timedelta(hours=1)
        skew_local_clock(monkeypatch, ahead)
        assert store_base.utcnow() == ahead
        assert any_store.try_acquire("leader", "b", 10) is None
        lease = any_store.get_lease("leader")
        assert lease is not None and lease.holder == "a" and lease.expires_at < ahead

    def test_skewed_local_clock_does_not_keep_an_expired_lease(
        self, any_store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A holder whose local clock runs 1 h behind cannot stop its lease from expiring."""
        behind = datetime.now(UTC) - timedelta(hours=1)
        skew_local_clock(monkeypatch, behind)
        assert any_store.try_acquire("leader", "a", 0.05)
        wait_expired(any_store, "leader")
        assert any_store.try_acquire("leader", "b", 10)


class TestFence:
    def test_writes_pass_while_held(self, any_store: Store) -> None:
        """A fenced store writes as usual while its lease is live at its epoch."""
        lease = any_store.try_acquire("leader", "a", 10)
        assert lease is not None
        any_store.fence("leader", "a", lease.epoch)
        any_store.upsert_node(NodeRecord("n1", "unix://", T0))
        assert any_store.get_node("n1") is not None

    def test_stale_epoch_is_refused_and_rolled_back(self, any_store: Store) -> None:
        """After a takeover the old holder's writes raise LeaseLost and write nothing."""
        old = any_store.try_acquire("leader", "a", 0.05)
        assert old is not None
        any_store.fence("leader", "a", old.epoch)
        wait_expired(any_store, "leader")
        with pytest.raises(LeaseLost):
            any_store.upsert_node(NodeRecord("n1", "unix://", T0))
        assert any_store.try_acquire("leader", "b", 10)
        # Even a renew of the holder name at the old epoch cannot reopen the fence.
        assert not any_store.renew("leader", "a", 10, old.epoch)
        with pytest.raises(LeaseLost), any_store.batch():
            any_store.upsert_node(NodeRecord("n2", "unix://", T0))
        assert any_store.get_node("n1") is None and any_store.get_node("n2") is None

    def test_expired_hold_is_refused_until_renewed(self, any_store: Store) -> None:
        """A hold past its expiry (nobody took it) refuses writes until a renewal succeeds."""
        lease = any_store.try_acquire("leader", "a", 0.05)
        assert lease is not None
        any_store.fence("leader", "a", lease.epoch)
        wait_expired(any_store, "leader")
        with pytest.raises(LeaseLost):
            any_store.upsert_node(NodeRecord("n1", "unix://", T0))
        assert any_store.renew("leader", "a", 10, lease.epoch)
        any_store.upsert_node(NodeRecord("n1", "unix://", T0))
        assert any_store.get_node("n1") is not None

    def test_released_lease_is_refused(self, any_store: Store) -> None:
        """After its own release a fenced store writes nothing."""
        lease = any_store.try_acquire("leader", "a", 10)
        assert lease is not None
        any_store.fence("leader", "a", lease.epoch)
        assert any_store.release("leader", "a", lease.epoch)
        with pytest.raises(LeaseLost):
            any_store.upsert_node(NodeRecord("n1", "unix://", T0))
        any_store.unfence()
        any_store.upsert_node(NodeRecord("n1", "unix://", T0))


LEASE_RACE = """
import sys, time
from reconciler.store import Store
store = Store.open(sys.argv[1])
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
won = sum(store.try_acquire(f"lease-{i}", sys.argv[2], 60) is not None for i in range(200))
print(won)
"""


class TestTwoProcesses:
    def test_two_processes_never_both_win(self, tmp_path: Path) -> None:
        """Two processes racing for 200 leases on one file win each exactly once in total."""
        path = str(tmp_path / "state.db")
        Store.open(path).close()
        start = str(time.time() + 1.0)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", LEASE_RACE, path, holder, start],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for holder in ("a", "b")
        ]
        wins = [int(p.communicate(timeout=60)[0]) for p in procs]
        assert sum(wins) == 200, wins
        store = Store.open(path)
        leases = [store.get_lease(f"lease-{i}") for i in range(200)]
        store.close()
        assert {lease.holder for lease in leases if lease} <= {"a", "b"}
        assert {lease.epoch for lease in leases if lease} == {1}
