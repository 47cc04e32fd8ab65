"""`reconciler sync` to the running service: a pid file next to the store and SIGUSR1.

The service half (`SyncListener`, in `reconciler run`) writes its pid to
`<state>.pid` and turns SIGUSR1 into a callback (the git source's
`request_sync`); the CLI half (`request_sync(state)`) reads that file, checks the
process is a live reconciler, and signals it. A signal, not a trigger file:
nothing has to poll, and a stale file is detected, not obeyed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

SYNC_SIGNAL = signal.SIGUSR1


class SyncError(RuntimeError):
    """No running service to ask; the message says why."""


def pid_path(state: str) -> Path:
    """`<state file>.pid`; for a non-file store URL, a per-URL file in the temp folder."""
    if state.startswith("sqlite:///"):
        state = state[len("sqlite:///"):]
    if "://" in state:
        digest = hashlib.sha256(state.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"reconciler-{digest}.pid"
    return Path(os.path.abspath(state) + ".pid")


def _is_reconciler(pid: int) -> bool:
    """The pid is alive and runs reconciler (pids are reused after a crash)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the live pid
    return b"reconciler" in cmdline


def request_sync(state: str) -> int:
    """Ask the service that owns `state` to fetch now; returns its pid, or raises SyncError."""
    path = pid_path(state)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise SyncError(f"no running service for {state} (no {path})") from None
    if not text.isdigit():
        raise SyncError(f"{path} does not hold a pid")
    pid = int(text)
    if not _is_reconciler(pid):
        raise SyncError(f"no running service for {state} (stale {path}: pid {pid} is gone)")
    try:
        os.kill(pid, SYNC_SIGNAL)
    except PermissionError:
        raise SyncError(f"not allowed to signal pid {pid} (run as its user)") from None
    except ProcessLookupError:
        raise SyncError(f"service pid {pid} exited") from None
    return pid


class SyncListener:
    """The service half: pid file plus SIGUSR1 handler; install() from the main thread.

    `on_sync` runs on a thread of its own, never inside the signal handler, so it
    may take locks (enqueue work, set an Event) that the main thread might hold.
    """

    def __init__(self, state: str, on_sync: Callable[[], None]) -> None:
        self.path = pid_path(state)
        self.on_sync = on_sync
        self._previous: signal.Handlers | Callable[[int, FrameType | None], object] | int | None
        self._previous = None
        self._pipe: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self.received = 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # The self-pipe trick: a write is async-signal-safe, a lock is not.
        if self._pipe is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._pipe[1], b"\0")

    def _deliver(self, read_fd: int) -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:
                os.close(read_fd)
                return
            # A burst of signals is one request: a fetch covers them all.
            self.received += 1
            try:
                self.on_sync()
            except Exception:
                log.exception("sync request handler failed")

    def install(self) -> None:
        """Handle SIGUSR1 and publish our pid (atomically, so `sync` never reads half)."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self._pipe = (read_fd, write_fd)
        self._thread = threading.Thread(
            target=self._deliver, args=(read_fd,), name="sync-listener", daemon=True
        )
        self._thread.start()
        self._previous = signal.signal(SYNC_SIGNAL, self._handle)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, self.path)

    def uninstall(self) -> None:
        """Restore the previous handler and remove the pid file if it is still ours."""
        if self._previous is not None:
            signal.signal(SYNC_SIGNAL, self._previous)
            self._previous = None
        if self._pipe is not None:
            os.close(self._pipe[1])  # the reader sees end of file and exits
            self._pipe = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with contextlib.suppress(OSError):
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()

    def __enter__(self) -> SyncListener:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()
