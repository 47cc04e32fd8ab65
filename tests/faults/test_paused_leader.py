"""Fault suite: the active instance is paused (SIGSTOP) past its lease and resumed after a takeover.

Two real `reconciler run` processes share one state store (proxy off, lease ttl
3 s, renew 1 s); both reach the Docker engine through a counting proxy on a unix
socket (tests/support/docker_proxy.py) that records each request with the pid
that sent it. The active one is stopped past its ttl, the standby takes over,
then the old one is resumed with work waiting for it: a scale-up in the
desired folder and a container removed behind its back. It must send no
mutating request (POST, PUT, DELETE) to the engine and exit 1. A second
scenario takes the store away instead (another process holds SQLite's write
lock): once the hold runs out the active one sends nothing, then it exits 1.
"""

from __future__ import annotations

import signal
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


def main_containers(prefix: str) -> dict[str, str]:
    """Running main containers of a prefix: name -> id."""
    return {c.name: c.id for c in engine_containers(prefix) if c.running and c.container == "main"}


class TestPausedLeader:
    @pytest.mark.timeout(240)
    def test_resumed_leader_performs_no_docker_action(
        self, tmp_path: Path, proxy: DockerProxy, runs: list[ServiceRun]
    ) -> None:
        """SIGSTOP the active past its ttl, standby takes over, SIGCONT: zero Docker actions."""
        env = {"DOCKER_HOST": proxy.url, **LEASE}
        a = ServiceRun(tmp_path, args=OFF, extra_env=env)
        runs.append(a)
        a.write("rc.yaml", rc_yaml("web", 2))
        a.start()
        assert a.proc is not None
        wait_until(lambda: len(a.running()) == 2, 60, what="2 pods under A")
        before = [str(r) for r in proxy.since(0.0, a.proc.pid) if r.mutating]
        assert before, "the proxy sees A's actions (else counting zero proves nothing)"

        b = ServiceRun(tmp_path, prefix=a.prefix, args=OFF, extra_env=env)
        runs.append(b)
        b.start(wait_ready=False)
        wait_until(lambda: "standby" in b.output(), 30, what="B saying standby")

        a.proc.send_signal(signal.SIGSTOP)
        paused = time.monotonic()
        # Work for A when it resumes: its folder watcher sees the edit, its event stream
        # the removed container; an unfenced A would create or start containers for them.
        a.write("rc.yaml", rc_yaml("web", 3))
        b.wait_notify("READY=1", 60)
        wait_until(lambda: len(b.running()) == 3, 60, what="B converging the edit to 3")
        victim_name, victim_id = sorted(main_containers(a.prefix).items())[0]
        subprocess.run(["docker", "rm", "-f", victim_id], check=True, capture_output=True)
        wait_until(
            lambda: len(b.running()) == 3 and victim_id not in main_containers(a.prefix).values(),
            60,
            what=f"B replacing {victim_name}",
        )
        assert time.monotonic() - paused > 3, "A stayed stopped past its ttl"

        resumed = time.monotonic()
        a.proc.send_signal(signal.SIGCONT)
        code = a.proc.wait(60)
        seen = proxy.since(resumed, a.proc.pid)
        mutating = [str(r) for r in seen if r.mutating]
        kinds = sorted({f"{r.method} {r.path.split('?')[0]}" for r in seen})
        refused = a.output().count("ActionRefused") + a.output().count("LeaseLost")
        print(f"\npaused leader: {len(before)} mutating requests before SIGSTOP; after SIGCONT "
              f"{len(seen)} requests, {len(mutating)} mutating: {mutating}; seen: {kinds}; "
              f"{refused} refusals (Docker or store) in its log; exit {code}")
        assert mutating == [], f"the resumed leader acted: {mutating}"
        assert code == 1, a.output()[-3000:]
        assert "lost to another instance" in a.output()

        wait_until(lambda: len(b.running()) == 3, 60, what="B still running 3 pods")


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
