"""Fault suite: the active instance is paused (SIGSTOP) past its lease and resumed after a takeover.

Two real `reconciler run` processes share one state store (proxy off, lease ttl
3 s, renew 1 s); both reach the Docker engine through a counting proxy on a unix
socket (tests/support/docker_proxy.py) that records each request with the pid
that sent it. The active one is stopped past its ttl, the standby takes over,
then the old one is resumed in the middle of a scale-up, each of its Docker
calls waiting on an answer the proxy withheld while it was stopped. It must
send no mutating request (POST, PUT, DELETE) to the engine and exit 1. A second
scenario takes the store away instead (another process holds SQLite's write
lock): once the hold runs out the active one sends nothing, then it exits 1.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.e2e.process_helpers import engine_containers, rc_yaml
from tests.e2e.service import ServiceRun, remove_all, wait_until
from tests.support.docker_proxy import DockerProxy

OFF = ("--proxy-mode", "off")
LEASE = {"RECONCILER_LEASE_TTL": "3s", "RECONCILER_LEASE_RENEW": "1s"}


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[DockerProxy]:
    """A counting proxy in front of the default engine's socket."""
    p = DockerProxy(str(tmp_path / "docker.sock"))
    yield p
    p.close()


@pytest.fixture
def runs(docker_client: docker.DockerClient, local_images: None) -> Iterator[list[ServiceRun]]:
    """ServiceRuns a test starts; each stopped (SIGCONT first) and its containers removed."""
    made: list[ServiceRun] = []
    yield made
    for run in made:
        if run.proc is not None and run.proc.poll() is None:
            run.proc.send_signal(signal.SIGCONT)
            run.stop()
    for prefix in {r.prefix for r in made}:
        remove_all(prefix)


def write_locked(state: Path) -> bool:
    """True while another process holds the SQLite store's write lock."""
    conn = sqlite3.connect(state, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.rollback()
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def stopped(pid: int) -> bool:
    """True once the process is in the stopped state (SIGSTOP is delivered asynchronously)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def stop_outside_a_write(run: ServiceRun, tries: int = 50) -> None:
    """SIGSTOP the service at a moment it holds no write transaction of the store.

    Stopped inside one, it would keep SQLite's lock (a file lock of the stopped process):
    no standby could take the lease, and on resume the instance would rightly go on as
    the holder. That is another scenario; this one needs the takeover.
    """
    proc = run.proc
    assert proc is not None
    for _ in range(tries):
        proc.send_signal(signal.SIGSTOP)
        wait_until(lambda: stopped(proc.pid), 10, 0.01, what="the service stopped")
        if not write_locked(run.state):
            return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"the service held the store's write lock at each of {tries} stops")


def main_containers(prefix: str) -> dict[str, str]:
    """Running main containers of a prefix: name -> id."""
    return {c.name: c.id for c in engine_containers(prefix) if c.running and c.container == "main"}


class TestPausedLeader:
    @pytest.mark.timeout(240)
    def test_resumed_leader_performs_no_docker_action(
        self, tmp_path: Path, proxy: DockerProxy, runs: list[ServiceRun]
    ) -> None:
        """SIGSTOP the active mid-scale-up past its ttl, standby takes over, SIGCONT: no action."""
        env = {"DOCKER_HOST": proxy.url, **LEASE}
        a = ServiceRun(tmp_path, args=OFF, extra_env=env)
        runs.append(a)
        a.write("rc.yaml", rc_yaml("web", 2))
        a.start()
        assert a.proc is not None
        pid = a.proc.pid
        wait_until(lambda: len(a.running()) == 2, 60, what="2 pods under A")
        b = ServiceRun(tmp_path, prefix=a.prefix, args=OFF, extra_env=env)
        runs.append(b)
        b.start(wait_ready=False)
        wait_until(lambda: "standby" in b.output(), 30, what="B saying standby")

        # Stop A in the middle of a scale-up, each of its Docker calls waiting on an answer
        # the proxy withholds: on resume, every thread goes on to its next call at once.
        edited = time.monotonic()
        proxy.hold(pid)
        a.write("rc.yaml", rc_yaml("web", 8))
        wait_until(
            lambda: any("pod.uid" in r.path for r in proxy.since(edited, pid)),
            30, 0.01, what="A syncing the new pods (listing their containers)",
        )
        time.sleep(1)  # let A's other workers reach the engine too
        stop_outside_a_write(a)
        paused = time.monotonic()
        proxy.release(pid)
        waiting = sorted({f"{r.method} {r.path.split('?')[0]}"
                          for r in proxy.since(edited, pid)})
        assert len(waiting) >= 1

        b.wait_notify("READY=1", 60)
        wait_until(lambda: len(b.running()) == 8, 90, what="B converging the scale-up to 8")
        assert time.monotonic() - paused > 3, "A stayed stopped past its ttl"

        resumed = time.monotonic()
        a.proc.send_signal(signal.SIGCONT)
        code = a.proc.wait(60)
        seen = proxy.since(resumed, pid)
        mutating = [str(r) for r in seen if r.mutating]
        kinds = sorted({re.sub("[0-9a-f]{64}", "ID", f"{r.method} {r.path.split('?')[0]}")
                        for r in seen})
        refused = a.output().count("ActionRefused")
        print(f"\npaused leader: stopped with {len(waiting)} requests waiting ({waiting}); "
              f"after SIGCONT {len(seen)} requests, {len(mutating)} mutating: "
              f"{mutating}; seen: {kinds}; {refused} Docker actions refused in its log; "
              f"exit {code}")
        assert mutating == [], f"the resumed leader acted: {mutating}"
        assert code == 1, a.output()[-3000:]
        assert "lost to another instance" in a.output()
        wait_until(lambda: len(b.running()) == 8, 60, what="B still running 8 pods")
        names = [c.name for c in engine_containers(a.prefix)]
        assert len(names) == len(set(names)), "no container twice"


HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


class TestStoreOutage:
    @pytest.mark.timeout(240)
    def test_unrenewable_lease_stops_acting_then_exits(
        self, tmp_path: Path, proxy: DockerProxy, runs: list[ServiceRun]
    ) -> None:
        """The store's write lock held past two ttls: no Docker action after the hold, exit 1."""
        a = ServiceRun(tmp_path, args=OFF, extra_env={"DOCKER_HOST": proxy.url, **LEASE})
        runs.append(a)
        a.write("rc.yaml", rc_yaml("web", 1))
        a.start()
        assert a.proc is not None
        wait_until(lambda: len(a.running()) == 1, 60, what="1 pod running")
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(a.state), "40"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            wait_until(lambda: "not renewed" in a.output(), 30, what="a failed renewal")
            # The hold (ttl 3 s) has run out by now: a container removed behind its back is
            # work the instance must not do.
            expired = time.monotonic()
            victim = next(iter(main_containers(a.prefix).values()))
            subprocess.run(["docker", "rm", "-f", victim], check=True, capture_output=True)
            code = a.proc.wait(90)
        finally:
            holder.kill()
            holder.wait(30)
        seen = proxy.since(expired, a.proc.pid)
        mutating = [str(r) for r in seen if r.mutating]
        print(f"\nstore outage: {len(seen)} requests after the hold ran out, mutating: "
              f"{mutating}; exit {code}")
        assert mutating == [], f"acted without a confirmed lease: {mutating}"
        assert code == 1 and "not renewed for" in a.output(), a.output()[-3000:]
