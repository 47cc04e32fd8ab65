"""Fault suite: the state store fails under the real service (issue 14's environmental faults).

The service (`reconciler run` as a subprocess, proxy off, a name prefix of its
own) runs an RC on the local engine while its SQLite store cannot be written:
the file system holding `state.db` is full, or another process holds the write
lock past the busy timeout. Each test then checks that no running container was
removed, that the service kept running, that an edit made during the fault is
applied once it ends, and the suite's invariants (tests/faults/invariants.py).
`TestTransientStoreError` fails one store write at a time inside one control
plane (tests/faults/crash_harness.py) that retries as the service's loop does,
without the restart that would clear what controllers keep in memory.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from reconciler.control.context import REPLICATION
from reconciler.service.app import enqueue_everything
from reconciler.store.engine import BUSY_TIMEOUT_MS
from tests.e2e.service import ServiceRun, remove_all, wait_until
from tests.faults import crash_harness as harness
from tests.faults.running import assert_converged, rc, running_containers, watch_fault

pytestmark = [pytest.mark.docker]

# Another process's write lock outlasts the store's busy timeout by this much.
HOLD = BUSY_TIMEOUT_MS / 1000 + 5


@pytest.fixture
def service(tmp_path: Path, docker_client: docker.DockerClient,
            local_images: None) -> Iterator[ServiceRun]:
    """A ServiceRun (not started) on the local engine; stopped and its containers removed."""
    run = ServiceRun(tmp_path, prefix=f"flt{uuid.uuid4().hex[:6]}", args=("--proxy-mode", "off"))
    try:
        yield run
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        remove_all(run.prefix)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted after the test."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def fill(path: Path) -> int:
    """Write zeros to `path` until the file system is full; the bytes written."""
    written = 0
    chunk = b"\0" * 16384
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            written += f.write(chunk)
    return written


class TestFullFileSystem:
    @pytest.mark.timeout(180)
    def test_state_db_on_a_full_file_system(self, small_fs: Path, service: ServiceRun,
                                            docker_client: docker.DockerClient) -> None:
        """state.db disk full (SQLITE_FULL), an edit, a restart: nothing removed, edit applied."""
        run = service
        run.state = small_fs / "state.db"
        run.write("web.yaml", rc("web", 3))
        run.start()
        assert_converged(run, docker_client, 3)
        before = running_containers(docker_client, run.prefix)
        filler = small_fs / "filler"
        fill(filler)
        run.write("web.yaml", rc("web", 5))  # an edit made during the fault
        # Writes fail: wait until the service has met the full disk, then some more.
        wait_until(lambda: "disk is full" in run.output(), 30, 0.5,
                   what="a write that met the full disk (SQLITE_FULL)")
        watch_fault(run, docker_client, before, 10)
        # Restarted while the disk is still full (an operator, or systemd after a crash): it
        # starts without writing, and nothing is removed meanwhile.
        run.stop()
        run.start(wait_ready=False)
        watch_fault(run, docker_client, before, 10)
        filler.unlink()
        run.wait_notify("READY=1", 60)
        assert_converged(run, docker_client, 5)
        kept = running_containers(docker_client, run.prefix)
        assert before.items() <= kept.items(), "a container that ran was removed"
        assert run.proc is not None and run.proc.poll() is None, "the service keeps running"


class TestBusyStore:
    @pytest.mark.timeout(180)
    def test_write_lock_held_past_the_busy_timeout(self, service: ServiceRun,
                                                   docker_client: docker.DockerClient) -> None:
        """Write lock held past the busy timeout (SQLITE_BUSY): nothing removed, edit applied."""
        run = service
        run.write("web.yaml", rc("web", 3))
        run.start()
        assert_converged(run, docker_client, 3)
        before = running_containers(docker_client, run.prefix)
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import sqlite3, sys, time\n"
             "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "db.execute('BEGIN EXCLUSIVE')\n"
             "print('held', flush=True)\n"
             "time.sleep(float(sys.argv[2]))\n"
             "db.execute('ROLLBACK')\n",
             str(run.state), str(HOLD)],
            stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            run.write("web.yaml", rc("web", 4))  # an edit made during the fault
            watch_fault(run, docker_client, before, HOLD - 1)
        finally:
            holder.wait(30)
        assert_converged(run, docker_client, 4)
        kept = running_containers(docker_client, run.prefix)
        assert before.items() <= kept.items(), "a container that ran was removed"
        assert run.proc is not None and run.proc.poll() is None, "the service keeps running"


def drain_retrying(plane: harness.Plane, until: Callable[[], bool], timeout: float) -> bool:
    """The service's loop on one plane: a failed reconcile is retried with backoff, in this
    process (no restart clears what the controllers keep in memory); a resync every second."""
    deadline = time.monotonic() + timeout
    resync = time.monotonic() + 1
    while time.monotonic() < deadline:
        key = plane.queue.get(timeout=0.05)
        if key is not None:
            try:
                with plane.faults.active(key.controller):
                    plane.loop.process(key)
            finally:
                plane.queue.done(key)
            continue
        if until():
            return True
        if time.monotonic() > resync:
            enqueue_everything(plane.ctx)
            resync = time.monotonic() + 1
    return until()


class TestTransientStoreError:
    @pytest.mark.timeout(240)
    def test_one_failed_write_of_a_scale_down(self, tmp_path: Path, test_prefix: str,
                                              docker_client: docker.DockerClient,
                                              local_images: None) -> None:
        """One store write of the RC controller fails (as SQLITE_BUSY), at each point in turn:
        the scale-down 3 -> 1 still converges by retry, without a restart."""
        desired, state = tmp_path / "desired", tmp_path / "state.db"
        desired.mkdir()
        points, at = 0, 1
        while True:
            (desired / "web.yaml").write_text(rc("web", 3))
            with contextlib.closing(harness.Plane(state, desired, test_prefix)) as plane:
                plane.start()
                assert drain_retrying(plane, lambda: not plane.violations(docker_client), 60)
            (desired / "web.yaml").write_text(rc("web", 1))
            faults = harness.Faults(REPLICATION, at)
            with faults.installed(), contextlib.closing(
                    harness.Plane(state, desired, test_prefix, faults)) as plane:
                plane.start()
                done = drain_retrying(plane, lambda: not plane.violations(docker_client), 30)
                found = [str(v) for v in plane.violations(docker_client)]
            if not faults.fired:
                break
            points += 1
            assert done and not found, f"after a failed {faults.fired}: {found}"
            at += 1
        print(f"\nscale-down 3 -> 1: {points} store writes of the RC controller failed in turn")
        assert points >= 2, f"only {points} store writes of the scale-down were exercised"
