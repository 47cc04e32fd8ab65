"""A machine-wide lock for tests that change machine-wide network state.

The service proxy's iptables chains (RECONCILER-*) and the DNS address are
shared by everything on the machine: a test that installs them, or asserts
that none are left, holds this lock, and so does every e2e service that runs a
proxy (tests/e2e/service.py).

Under pytest-xdist a test blocked on this lock idles its worker, so every test
that takes it lives in a file marked `pytestmark = MACHINE_NETWORK`: the suite's
scheduler (tests/support/file_order.py) runs all those files on one worker, one
after another, while the other workers run everything else. Taking the lock in
a test of an unmarked file fails at once, naming the test. (pytest-xdist's own
`--dist loadgroup` does this per test, but cannot under pytest 9, whose node ids
it can no longer rename.) The time each test
waited for and held the lock is kept for the run's summary (tests/conftest.py).
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PROXY_LOCK = "/tmp/reconciler-e2e-proxy.lock"
MACHINE_NETWORK = pytest.mark.machine_network
_MARKED = re.compile(r"^pytestmark\b.*\bMACHINE_NETWORK\b", re.M)

_current = {"nodeid": "", "marked": True}  # outside a test (bench, scripts) anything goes
HOLDS: list[Hold] = []  # every take of the lock in this process


@functools.cache
def marked_file(path: str) -> bool:
    """Whether the test file at `path` is marked as a whole (`pytestmark` names
    MACHINE_NETWORK): the scheduler reads only test ids, so the mark is per file."""
    try:
        return bool(_MARKED.search(Path(path).read_text()))
    except OSError:
        return False


def note_test(item: pytest.Item) -> None:
    """Remember which test runs now and whether its file is in the machine-network group."""
    _current["nodeid"] = item.nodeid
    _current["marked"] = marked_file(str(item.path))


def _require_mark() -> None:
    if not _current["marked"]:
        raise AssertionError(
            f"{_current['nodeid']} takes the machine-wide network lock but its file has no "
            "`pytestmark` with tests.support.machine_lock.MACHINE_NETWORK: waiting for the "
            "lock, it would idle a worker")


@dataclass
class Hold:
    """One take of the lock: by which test, how long it waited, how long it held it."""

    test: str
    waited: float
    taken: float
    held: float = -1.0  # until released

    def row(self) -> tuple[str, float, float]:
        return self.test, self.waited, self.held


def acquire() -> tuple[int, Hold]:
    """Take the lock (blocking); returns its descriptor and the record of this take."""
    _require_mark()
    fd = os.open(PROXY_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    asked = time.monotonic()
    fcntl.flock(fd, fcntl.LOCK_EX)
    taken = time.monotonic()
    hold = Hold(str(_current["nodeid"]), taken - asked, taken)
    HOLDS.append(hold)
    return fd, hold


def release(fd: int, hold: Hold) -> None:
    """Release the lock taken by `acquire` and record how long it was held."""
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    hold.held = time.monotonic() - hold.taken


@contextmanager
def proxy_lock() -> Iterator[None]:
    fd, hold = acquire()
    try:
        yield
    finally:
        release(fd, hold)
