"""The detached DNS server's signals under query load: no SIGHUP or SIGTERM is lost.

The real `python -m reconciler.network.dnsd` process, answering on a loopback
address while a client asks it without pause (the server makes a thread per
query). The kernel may hand a process-directed signal to any of those threads;
a SIGHUP taken by one used to wait for the main thread's next wake-up, the 10 s
safety reload (docs/network.md's 9.8 s answer). Here the safety reload is set to
an hour, so only the SIGHUP itself can make a change visible.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from dnslib import DNSRecord

from reconciler.network import snapshot
from reconciler.network.dnsd import read_pidfile
from reconciler.network.model import ServiceEntry, ServiceTable

ADDRESS = "127.0.0.76"  # on lo already (127/8): nothing machine-wide is changed
NAME = "web.default.svc.cluster.local"
CHANGES = 40


def table(i: int) -> ServiceTable:
    return ServiceTable.of([ServiceEntry("default", "web", cluster_ip=f"10.96.77.{i + 1}")])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@dataclass
class Dnsd:
    """One detached server of this test's own (a folder, an ephemeral port)."""

    proc: subprocess.Popen[bytes]
    snap: Path
    port: int = 0

    def ask(self) -> list[str]:
        try:
            reply = DNSRecord.parse(DNSRecord.question(NAME, "A").send(ADDRESS, self.port,
                                                                       timeout=2))
        except OSError:
            return []
        return [str(rr.rdata) for rr in reply.rr]


@pytest.fixture
def dnsd(tmp_path: Path) -> Iterator[Dnsd]:
    """The server, started from table 0, safety reload one hour; ended after the test."""
    snap, pidfile = tmp_path / "table.json", tmp_path / "dnsd.pid"
    snapshot.write(snap, table(0))
    with open(tmp_path / "dnsd.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler.network.dnsd", "--address", ADDRESS,
             "--port", "0", "--snapshot", str(snap), "--pidfile", str(pidfile),
             "--reload-every", "3600"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Dnsd(proc, snap)
    try:
        wait_for(lambda: read_pidfile(pidfile) is not None or proc.poll() is not None, 60,
                 "the server's pidfile")
        info = read_pidfile(pidfile)
        assert info is not None, (tmp_path / "dnsd.log").read_text()
        server.port = info.port
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def served(server: Dnsd, address: str) -> bool:
    return server.ask() == [address]


class Asker:
    """Queries without pause on a thread of its own until stopped."""

    def __init__(self, server: Dnsd) -> None:
        self.server = server
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Asker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.server.ask()
            self.count += 1


class TestDnsdSignals:
    def test_every_sighup_reloads_under_query_load(self, dnsd: Dnsd) -> None:
        """40 table changes, each told by one SIGHUP while queries run: each one is served."""
        assert dnsd.ask() == ["10.96.77.1"]
        with Asker(dnsd) as asker:
            for i in range(1, CHANGES + 1):
                snapshot.write(dnsd.snap, table(i))
                os.kill(dnsd.proc.pid, signal.SIGHUP)
                wait_for(partial(served, dnsd, f"10.96.77.{i + 1}"), 60, f"change {i} served")
            assert asker.count > CHANGES
        assert dnsd.proc.poll() is None

    def test_sigterm_under_query_load_ends_the_server(self, dnsd: Dnsd) -> None:
        """SIGTERM while queries run: the server exits 0 (long before its hourly reload)."""
        with Asker(dnsd) as asker:
            wait_for(lambda: asker.count > 20, 60, "queries answered")
            dnsd.proc.send_signal(signal.SIGTERM)
            assert dnsd.proc.wait(60) == 0
