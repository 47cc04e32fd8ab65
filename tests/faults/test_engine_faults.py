"""Fault suite: the Docker engine fails under the real service (issue 14's environmental faults).

The service (`reconciler run` as a subprocess, proxy off) has one node, `hostf`: a
Docker engine of its own in a network namespace (scripts/hostf.sh), so restarting
it or taking its socket away never disturbs the engine other tests use. Each test
injects one fault while the service converges or runs, then checks that nothing
running was removed, that everything converges once the fault ends, and the
suite's invariants (tests/faults/invariants.py: nothing declared lost, nothing
running twice, no orphans).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from reconciler.runtime import naming
from tests.conftest import ROOT
from tests.e2e.service import ServiceRun, containers, remove_all, wait_until
from tests.faults.running import (
    assert_converged,
    rc,
    running_containers,
    stale_addresses,
    uids,
)

pytestmark = [pytest.mark.docker, pytest.mark.twohosts]

HOSTF = ROOT / "scripts" / "hostf.sh"
HOSTF_SOCK = Path("/var/run/docker-hostf.sock")
HOSTF_URL = f"unix://{HOSTF_SOCK}"
HOSTF_PID = Path("/var/run/docker-hostf.pid")

NODE = f"""\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {{name: hostf}}
spec:
  engine: {HOSTF_URL}
  address: 10.252.0.2
"""


def hostf_script(action: str) -> str:
    run = subprocess.run([str(HOSTF), action], capture_output=True, text=True, timeout=120,
                         check=False)
    if run.returncode != 0:
        raise RuntimeError(f"hostf.sh {action}: {run.stderr.strip() or run.stdout.strip()}")
    return run.stdout


@pytest.fixture(scope="module")
def hostf(docker_client: docker.DockerClient, local_images: None) -> Iterator[docker.DockerClient]:
    """The fault suite's own engine (network namespace hostf), stopped after the module."""
    try:
        hostf_script("start")
    except RuntimeError as e:
        pytest.skip(f"fault-suite Docker host unavailable: {e}")
    client = docker.DockerClient(base_url=HOSTF_URL, version="1.41", timeout=60)
    try:
        yield client
    finally:
        client.close()
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            hostf_script("stop")


@pytest.fixture
def service_on_hostf(tmp_path: Path,
                     hostf: docker.DockerClient) -> Iterator[Callable[..., ServiceRun]]:
    """Build a ServiceRun whose only node is hostf; stopped and its containers removed after."""
    made: list[ServiceRun] = []

    def make(**env: str) -> ServiceRun:
        run = ServiceRun(tmp_path, prefix=f"flt{uuid.uuid4().hex[:6]}",
                         args=("--proxy-mode", "off"), extra_env=env)
        run.write("nodes.yaml", NODE)
        made.append(run)
        return run

    yield make
    for run in made:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        remove_all(run.prefix, HOSTF_URL)


def node_status(run: ServiceRun, name: str = "hostf") -> str:
    for row in run.cli("get", "nodes", check=False).stdout.splitlines()[1:]:
        cols = row.split()
        if cols and cols[0] == name:
            return cols[1]
    return ""


class TestEngineRestart:
    @pytest.mark.timeout(240)
    def test_engine_restarted_mid_converge(self, service_on_hostf: Callable[..., ServiceRun],
                                           hostf: docker.DockerClient) -> None:
        """Engine restarted while an RC of 6 is created: the 6 pods run again, none twice."""
        run = service_on_hostf().start()
        wait_until(lambda: node_status(run) == "Ready", 60, what="hostf Ready")
        run.write("web.yaml", rc("web", 6, probe=True))
        # Mid-converge: some containers exist, not every pod runs yet.
        wait_until(lambda: len(containers(run.prefix, HOSTF_URL)) >= 4, 60, 0.05,
                   what="the first containers on hostf")
        before = uids(run.pods())
        at_restart = len(run.running())
        hostf_script("restart")
        pods = assert_converged(run, hostf, 6)
        # The pods were kept (restarted or recreated on the engine), not replaced.
        assert before <= uids(pods), f"pods lost across the restart: {before - uids(pods)}"
        # The state matches: a recreated sandbox's new address is what the store says.
        wait_until(lambda: not stale_addresses(run, hostf), 30, 1.0,
                   what="recorded pod IPs equal to the sandboxes' addresses")
        assert run.proc is not None and run.proc.poll() is None, "the service keeps running"
        after = hostf.api.containers(all=True, filters={"label": f"{naming.PREFIX}={run.prefix}"})
        print(f"\nengine restarted with {at_restart}/6 pods running, {len(before)} recorded; "
              f"{len(after)} containers after")


class TestEngineUnreachable:
    @pytest.mark.timeout(240)
    def test_socket_unreachable_for_30s(self, service_on_hostf: Callable[..., ServiceRun],
                                        hostf: docker.DockerClient) -> None:
        """Engine socket gone 30 s: no pod removed or evicted, edit applied after, none twice."""
        run = service_on_hostf(RECONCILER_NODE_NOT_READY_TIMEOUT="5s",
                               RECONCILER_NODE_EVICTION_TIMEOUT="120s").start()
        run.write("web.yaml", rc("web", 3, probe=True))
        pods = assert_converged(run, hostf, 3)
        before_pods, before_running = uids(pods), running_containers(hostf, run.prefix)
        away = HOSTF_SOCK.with_name(HOSTF_SOCK.name + ".away")
        # dockerd keeps running (and so do its containers); new connections find no socket,
        # and SIGSTOP makes connections already open hang as a dead host's would.
        pid = int(HOSTF_PID.read_text().strip())
        os.rename(HOSTF_SOCK, away)
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            run.write("web.yaml", rc("web", 4, probe=True))  # an edit made during the fault
            not_ready_after: float | None = None
            while time.monotonic() - started < 30:
                listed = run.pods()
                assert before_pods <= uids(listed), "a pod record was removed during the fault"
                marked = [p["metadata"]["name"] for p in listed
                          if p["metadata"].get("deletionTimestamp")]
                assert not marked, f"pods marked for deletion before the eviction timeout: {marked}"
                if not_ready_after is None and node_status(run) == "NotReady":
                    not_ready_after = time.monotonic() - started
                time.sleep(1)
            assert not_ready_after is not None, "hostf was never NotReady while its socket was gone"
        finally:
            os.kill(pid, signal.SIGCONT)
            os.rename(away, HOSTF_SOCK)
        wait_until(lambda: node_status(run) == "Ready", 60, what="hostf Ready again")
        pods = assert_converged(run, hostf, 4)
        assert before_pods <= uids(pods)
        assert not stale_addresses(run, hostf)
        kept = running_containers(hostf, run.prefix)
        assert before_running.items() <= kept.items(), "a container that ran was removed"
        assert run.proc is not None and run.proc.poll() is None, "the service keeps running"
        print(f"\nsocket gone 30 s: NotReady seen after {not_ready_after:.1f} s (timeout 5 s); "
              f"{len(pods)} pods after, {len(before_running)} containers kept: "
              f"{json.dumps(sorted(kept.values()))}")
