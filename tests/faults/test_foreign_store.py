"""Fault suite: a second `reconciler run` with another state store on the same engine (issue 14, 4).

Two real services (subprocesses, proxy off) with the same container-name prefix
and different state files share the local engine: another project's service,
or the same one restarted with a lost or relative-path state file. Before
cluster ids, the second one's first adoption pass removed every pod of the
first as an orphan. Now each store's containers carry its cluster id; the
second service leaves the first one's pods running and reports them (`get
nodes`: `Ready,ForeignContainers`, and a Warning event).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from reconciler.runtime import naming
from reconciler.store import Store
from tests.e2e.service import ServiceRun, remove_all, wait_until
from tests.faults.invariants import assert_invariants

pytestmark = pytest.mark.docker

MANIFESTS = """\
apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: reconciler/busybox:1
        command: [sleep, "3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: reconciler/busybox:1
    command: [sleep, "3600"]
"""

OFF = {"RECONCILER_NETWORK_PROXY_MODE": "off"}  # no machine-wide proxy lock needed


@pytest.fixture
def prefix(docker_client: docker.DockerClient, local_images: None) -> Iterator[str]:
    """One prefix for both services (as two default installs share `rk8s`); removed after."""
    value = f"fs{uuid.uuid4().hex[:6]}"
    yield value
    remove_all(value)


@pytest.fixture
def runs() -> Iterator[list[ServiceRun]]:
    """Services the test starts; stopped afterwards (their pods stay, as in production)."""
    made: list[ServiceRun] = []
    yield made
    for run in made:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()


def start(
    runs: list[ServiceRun], tmp: Path, prefix: str, desired: Path | None = None
) -> ServiceRun:
    tmp.mkdir(parents=True, exist_ok=True)
    run = ServiceRun(tmp, desired, prefix=prefix, extra_env=OFF)
    runs.append(run)
    return run


def running_ids(client: docker.DockerClient, prefix: str, cluster: str) -> set[str]:
    """Ids of the running containers that carry `cluster`'s id."""
    found = client.api.containers(filters={"label": [f"{naming.PREFIX}={prefix}",
                                                     f"{naming.CLUSTER}={cluster}"]})
    return {c["Id"] for c in found}


def foreign_condition(run: ServiceRun) -> dict[str, Any] | None:
    """The ForeignContainers condition of node `local` as `get node -o json` shows it."""
    got = run.cli("get", "node", "local", "-o", "json", check=False)
    if got.returncode != 0 or not got.stdout.strip():
        return None
    conditions = json.loads(got.stdout)["status"]["conditions"]
    return next((c for c in conditions if c["type"] == "ForeignContainers"), None)


def cluster_of(state: Path) -> str:
    with Store.open(str(state), create=False) as store:
        return store.cluster_id()


class TestForeignStore:
    def test_a_second_service_leaves_the_first_ones_pods_running(
        self, tmp_path: Path, prefix: str, runs: list[ServiceRun],
        docker_client: docker.DockerClient,
    ) -> None:
        """Injects a second service (own store, empty folder, same prefix): A's pods run on."""
        a = start(runs, tmp_path / "a", prefix)
        a.write("app.yaml", MANIFESTS)
        a.start()
        wait_until(lambda: len(a.running()) == 3, 90, what="A's 3 pods running")
        ours = cluster_of(a.state)
        before = running_ids(docker_client, prefix, ours)
        assert len(before) == 6  # 3 pods: an infra container and `main` each

        b = start(runs, tmp_path / "b", prefix).start()
        theirs = cluster_of(b.state)
        assert theirs != ours
        # The condition is written after B's adoption pass, which used to remove A's pods.
        cond = wait_until(lambda: foreign_condition(b), 60, what="B reports A's containers")
        assert cond["status"] == "True"
        assert f"6 containers of another cluster (id {ours})" in cond["message"]
        assert "Ready,ForeignContainers" in b.cli("get", "nodes").stdout
        events = b.cli("get", "events", "-A").stdout
        assert "ForeignContainers" in events

        assert running_ids(docker_client, prefix, ours) == before
        assert len(a.running()) == 3
        with Store.open(str(a.state), create=False) as store:
            assert_invariants(store, docker_client, prefix, a.desired,
                              context="with a second service on the engine")

    def test_a_lost_state_file_runs_beside_the_original(
        self, tmp_path: Path, prefix: str, runs: list[ServiceRun],
        docker_client: docker.DockerClient,
    ) -> None:
        """Injects the same folder with a new state file: both run their pods; neither collects."""
        a = start(runs, tmp_path / "a", prefix)
        a.write("app.yaml", MANIFESTS)
        a.start()
        wait_until(lambda: len(a.running()) == 3, 90, what="A's 3 pods running")
        ours = cluster_of(a.state)
        before = running_ids(docker_client, prefix, ours)

        b = start(runs, tmp_path / "b", prefix, desired=a.desired).start()
        wait_until(lambda: len(b.running()) == 3, 90, what="B's 3 pods running")
        wait_until(lambda: foreign_condition(a), 60, what="A reports B's containers")
        wait_until(lambda: foreign_condition(b), 60, what="B reports A's containers")

        assert running_ids(docker_client, prefix, ours) == before
        assert len(running_ids(docker_client, prefix, cluster_of(b.state))) == 6
        assert len(a.running()) == 3
