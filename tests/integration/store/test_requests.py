"""Requests to the active instance through the store (`sync`, `delete`), on SQLite and PostgreSQL.

The store half (add, take, read, the live holder) and the service half
(`RequestListener`) against the real databases (`any_store`, `store_url`:
tests/conftest.py); the CLI half as a user runs it, `reconciler sync` in a
subprocess, reaching a listener through the store alone (no pid file).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.service.requests import RESYNC, RequestListener
from reconciler.store import Store
from reconciler.store.leases import LeaseLost
from reconciler.store.requests import CONTROLLER_LEASE

RECONCILER = str(Path(sys.executable).with_name("reconciler"))


@pytest.fixture
def leader(store_url: str) -> Iterator[Store]:
    """A store whose lease is held (and fenced) by `active-1`, as the active instance's."""
    store = Store.open(store_url)
    lease = store.try_acquire(CONTROLLER_LEASE, "active-1", 60)
    assert lease is not None
    store.fence(CONTROLLER_LEASE, "active-1", lease.epoch)
    yield store
    store.close()


class TestRequestsStore:
    def test_taken_once_by_the_holder(self, any_store: Store) -> None:
        """Pending rows are taken once, oldest first, with the holder's name on them."""
        first = any_store.add_request("sync", "cli-a")
        second = any_store.add_request("delete", "cli-b")
        assert any_store.pending_requests() == 2
        taken = any_store.take_requests("active-1")
        assert [(r.id, r.kind, r.requested_by) for r in taken] == [
            (first, "sync", "cli-a"), (second, "delete", "cli-b")]
        assert any_store.take_requests("active-1") == []
        again = any_store.get_request(first)
        assert again is not None and again.handled_by == "active-1" and again.handled_at

    def test_active_holder_is_judged_by_the_database_clock(self, any_store: Store) -> None:
        """No lease, a live one, a released one: "", the holder, ""."""
        assert any_store.active_holder() == ""
        lease = any_store.try_acquire(CONTROLLER_LEASE, "active-1", 60)
        assert lease is not None
        assert any_store.active_holder() == "active-1"
        any_store.release(CONTROLLER_LEASE, "active-1", lease.epoch)
        assert any_store.active_holder() == ""

    def test_a_deposed_holder_takes_nothing(self, any_store: Store, store_url: str) -> None:
        """After a takeover the old holder's take raises LeaseLost; the new one gets the row."""
        old = any_store.try_acquire(CONTROLLER_LEASE, "old", 0.2)
        assert old is not None
        any_store.fence(CONTROLLER_LEASE, "old", old.epoch)
        with Store.open(store_url) as other:
            while other.try_acquire(CONTROLLER_LEASE, "new", 60) is None:
                threading.Event().wait(0.1)  # the 0.2 s hold runs out by the database clock
            other.add_request("sync", "cli")
            with pytest.raises(LeaseLost):
                any_store.take_requests("old")
            assert [r.requested_by for r in other.take_requests("new")] == ["cli"]


class TestRequestListener:
    def test_cli_sync_reaches_the_listener_through_the_store(
        self, leader: Store, store_url: str, tmp_path: Path
    ) -> None:
        """`reconciler sync --state URL` in another process is taken and answered by holder."""
        calls = threading.Semaphore(0)
        listener = RequestListener(leader, "active-1", calls.release).start()
        try:
            done = subprocess.run([RECONCILER, "sync", "--state", store_url],
                                  capture_output=True, text=True, timeout=60, check=False,
                                  cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            assert "instance active-1 (taken)" in done.stdout
            assert calls.acquire(timeout=30)
            assert listener.taken == 1
            assert not list(tmp_path.glob("*.pid")), "no pid file is involved"
        finally:
            listener.stop()

    def test_resync_requests_alone_call_on_resync_and_sync_calls_on_request(
            self, leader: Store) -> None:
        """A burst of `resync` requests is the periodic pass; one with a `sync` is a full one."""
        full, periodic = threading.Semaphore(0), threading.Semaphore(0)
        listener = RequestListener(leader, "active-1", full.release,
                                   on_resync=periodic.release).start()
        try:
            leader.add_request(RESYNC, "bench")
            assert periodic.acquire(timeout=30)
            leader.add_request("sync", "cli")
            assert full.acquire(timeout=30)
            assert not periodic.acquire(timeout=0)
        finally:
            listener.stop()

    def test_pending_request_is_taken_at_start(self, leader: Store) -> None:
        """A request made while no listener ran is taken when one starts."""
        leader.add_request("delete", "cli")
        calls = threading.Semaphore(0)
        listener = RequestListener(leader, "active-1", calls.release).start()
        try:
            assert calls.acquire(timeout=30)
            assert leader.pending_requests() == 0
        finally:
            listener.stop()
