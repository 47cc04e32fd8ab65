"""SyncListener in this process: the pid file, and SIGUSR1 delivered off the signal handler."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from reconciler.sources.trigger import SYNC_SIGNAL, SyncListener


class TestSyncListener:
    def test_pid_file_written_and_removed(self, tmp_path: Path) -> None:
        """install() publishes our pid next to the store; uninstall() removes it and the handler."""
        before = signal.getsignal(SYNC_SIGNAL)
        with SyncListener(str(tmp_path / "state.db"), lambda: None) as listener:
            assert listener.path.read_text() == f"{os.getpid()}\n"
            assert signal.getsignal(SYNC_SIGNAL) != before
        assert not listener.path.exists()
        assert signal.getsignal(SYNC_SIGNAL) == before

    def test_callback_may_take_a_lock_the_main_thread_holds(self, tmp_path: Path) -> None:
        """The callback runs on its own thread: a lock held where the signal hit cannot deadlock."""
        lock = threading.Lock()
        done = threading.Event()

        def on_sync() -> None:
            with lock:
                done.set()

        with SyncListener(str(tmp_path / "state.db"), on_sync) as listener:
            with lock:
                os.kill(os.getpid(), SYNC_SIGNAL)
                time.sleep(0.2)
                assert not done.is_set()
            assert done.wait(5)
            assert listener.received >= 1

    def test_failing_callback_keeps_listening(self, tmp_path: Path) -> None:
        """An exception in the callback is logged; the next signal is still delivered."""
        calls: list[int] = []
        second = threading.Event()

        def on_sync() -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("fetch failed")
            second.set()

        with SyncListener(str(tmp_path / "state.db"), on_sync):
            os.kill(os.getpid(), SYNC_SIGNAL)
            deadline = time.monotonic() + 5
            while not calls and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), SYNC_SIGNAL)
            assert second.wait(5)
