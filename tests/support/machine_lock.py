"""A machine-wide lock for tests that change machine-wide network state.

The service proxy's iptables chains (RECONCILER-*) and the DNS address are
shared by everything on the machine: a test that installs them, or asserts
that none are left, holds this lock, and so does every e2e service that runs a
proxy (tests/e2e/service.py).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

PROXY_LOCK = "/tmp/reconciler-e2e-proxy.lock"


@contextmanager
def proxy_lock() -> Iterator[None]:
    fd = os.open(PROXY_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
