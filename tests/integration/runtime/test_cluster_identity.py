"""Two state stores, one engine, one name prefix: each collects only its own cluster's containers.

Each `Plane` is a store of its own (its own cluster id) with the desired, pod and
node controllers on the real local engine, and the same container-name prefix
as the other: what two `reconciler run`s with different state files do. Before
cluster ids, the second plane's adoption pass removed the first one's pods as
orphans; now it leaves them alone and says so (node condition + event).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from reconciler.api.records import PodRecord
from reconciler.control.context import DESIRED, NODE, NODE_GC, POD, Context, Settings
from reconciler.control.desired import DesiredController
from reconciler.control.loop import Loop, Reconciler, WorkKey
from reconciler.control.nodes import FOREIGN, NodeController
from reconciler.control.pods import PodController
from reconciler.control.queue import WorkQueue
from reconciler.runtime import naming
from reconciler.runtime.agent import NodeAgent
from reconciler.runtime.types import PodEnv, RuntimeConfig
from reconciler.store import Store
from tests.conftest import LOCAL_URL, TEST_LABEL
from tests.e2e.service import cli
from tests.integration.runtime.conftest import make_pod, node

pytestmark = pytest.mark.docker

POD_YAML = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: reconciler/busybox:1
    command: [sleep, "3600"]
"""


class Plane:
    """One store and its controllers on the local engine (the service's loop, drained by hand)."""

    def __init__(self, tmp: Path, prefix: str) -> None:
        tmp.mkdir()
        self.desired = tmp / "desired"
        self.desired.mkdir()
        self.state = tmp / "state.db"
        self.store = Store.open(str(self.state))
        self.queue: WorkQueue[WorkKey] = WorkQueue()
        self.ctx = Context(
            store=self.store,
            queue=self.queue,
            runtime=RuntimeConfig(prefix=prefix, extra_labels={TEST_LABEL: "1"}, stop_timeout=1,
                                  cluster_id=self.store.cluster_id()),
            settings=Settings(desired=str(self.desired), default_engine=LOCAL_URL,
                              heartbeat_interval=0.2),
        )
        self.nodes = NodeController(self.ctx)
        controllers: dict[str, Reconciler] = {
            DESIRED: DesiredController(self.ctx, self.desired),
            POD: PodController(self.ctx),
            NODE: self.nodes,
            NODE_GC: self.nodes,
        }
        self.loop = Loop(self.queue, controllers)

    @property
    def cluster_id(self) -> str:
        return self.ctx.runtime.cluster_id

    def start(self) -> None:
        """The service's first pass: desired state, node heartbeat, then adoption and gc."""
        self.loop.process(WorkKey(DESIRED, "all"))
        for name in self.nodes.sync_registrations():
            self.loop.process(WorkKey(NODE, name))
            self.loop.process(WorkKey(NODE_GC, name))

    def converge(self, until: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Drain the queue, resyncing every pod and node each round, until `until()` holds."""
        deadline = time.monotonic() + timeout
        while True:
            self.queue.add(WorkKey(DESIRED, "all"))
            for n in self.store.list_nodes():
                self.queue.add(WorkKey(NODE, n.name))
                self.queue.add(WorkKey(NODE_GC, n.name))
            for p in self.store.list_pods():
                self.queue.add(WorkKey(POD, p.uid))
            while (key := self.queue.get(timeout=0)) is not None:
                try:
                    self.loop.process(key)
                finally:
                    self.queue.done(key)
            found = until()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not converged in {timeout}s")
            time.sleep(0.3)

    def running(self) -> list[PodRecord]:
        return [p for p in self.store.list_pods() if p.phase == "Running"]

    def close(self) -> None:
        for agent in self.ctx.agents().values():
            agent.close()
        self.store.close()


@pytest.fixture
def planes(
    tmp_path: Path, test_prefix: str, local_images: None
) -> Iterator[Callable[[str], Plane]]:
    """Make planes (stores + controllers) sharing this test's prefix; closed afterwards."""
    made: list[Plane] = []

    def make(name: str) -> Plane:
        made.append(Plane(tmp_path / name, test_prefix))
        return made[-1]

    yield make
    for plane in made:
        plane.close()


def containers_of(client: docker.DockerClient, prefix: str, uid: str) -> list[dict[str, Any]]:
    return list(client.api.containers(all=True, filters={
        "label": [f"{naming.PREFIX}={prefix}", f"{naming.POD_UID}={uid}"]}))


class TestForeignCluster:
    def test_a_second_store_leaves_the_first_ones_pods_running(
        self, planes: Callable[[str], Plane], docker_client: docker.DockerClient, test_prefix: str
    ) -> None:
        """Store B's adoption pass on the same engine and prefix removes none of store A's pods."""
        a, b = planes("a"), planes("b")
        assert a.cluster_id != b.cluster_id
        (a.desired / "web.yaml").write_text(POD_YAML.format(name="web"))
        a.start()
        (web,) = a.converge(a.running)
        before = {c["Id"] for c in containers_of(docker_client, test_prefix, web.uid)}
        assert len(before) == 2  # the infra container and `main`
        for c in containers_of(docker_client, test_prefix, web.uid):
            assert c["Labels"][naming.CLUSTER] == a.cluster_id

        b.start()  # nothing declared: before cluster ids, every container above was an orphan
        b.converge(lambda: b.store.get_node("local") is not None)

        after = containers_of(docker_client, test_prefix, web.uid)
        assert {c["Id"] for c in after} == before
        assert all(c["State"] == "running" for c in after)
        assert [p.uid for p in a.running()] == [web.uid]

    def test_the_second_store_reports_the_foreign_containers(
        self, planes: Callable[[str], Plane], test_prefix: str
    ) -> None:
        """B's node gets a ForeignContainers condition and a Warning event naming A's id."""
        a, b = planes("a"), planes("b")
        (a.desired / "web.yaml").write_text(POD_YAML.format(name="web"))
        a.start()
        a.converge(a.running)
        b.start()
        local = b.converge(lambda: next((c for c in (b.store.get_node("local") or node()).conditions
                                         if c.type == FOREIGN), None))
        assert local.status is True
        assert f"2 containers of another cluster (id {a.cluster_id})" in local.message
        b.store.flush_events()  # events are written apart, in batches (store/recorder.py)
        events = [e for e in b.store.list_events(None, "Node", "local") if e.reason == FOREIGN]
        assert len(events) == 1 and events[0].type == "Warning"
        assert a.cluster_id in events[0].message
        # A, meanwhile, sees nothing foreign: B created nothing.
        a.converge(lambda: a.store.get_node("local") is not None)
        assert not (a.store.get_node("local") or node()).conditions
        # ... and the CLI shows it: in `get nodes` and in `describe node`.
        listed = cli("get", "nodes", state=b.state).stdout
        assert "Ready,ForeignContainers" in listed
        described = cli("describe", "node", "local", state=b.state).stdout
        assert "ForeignContainers" in described and a.cluster_id in described

    def test_both_stores_run_the_same_manifests_side_by_side(
        self, planes: Callable[[str], Plane], docker_client: docker.DockerClient, test_prefix: str
    ) -> None:
        """A lost state file (same folder, new store): both run their pods; neither collects."""
        a, b = planes("a"), planes("b")
        for plane in (a, b):
            (plane.desired / "web.yaml").write_text(POD_YAML.format(name="web"))
        a.start()
        (web_a,) = a.converge(a.running)
        b.start()
        (web_b,) = b.converge(b.running)
        a.converge(lambda: FOREIGN in {c.type for c in (a.store.get_node("local") or node())
                                       .conditions})
        for uid in (web_a.uid, web_b.uid):
            found = containers_of(docker_client, test_prefix, uid)
            assert len(found) == 2 and all(c["State"] == "running" for c in found)


class TestContainersWithoutClusterId:
    def _legacy(self, config: RuntimeConfig, pod: PodRecord) -> None:
        """Run `pod` as a version before cluster ids did: no cluster label."""
        agent = NodeAgent(node(), config, lambda uid: None)
        try:
            deadline = time.monotonic() + 60
            while agent.sync_pod(pod, PodEnv()).phase != "Running":
                assert time.monotonic() < deadline, "legacy pod did not start"
                time.sleep(0.3)
        finally:
            agent.close()

    def test_unknown_ones_are_left_alone_and_reported(
        self, planes: Callable[[str], Plane], docker_client: docker.DockerClient, test_prefix: str
    ) -> None:
        """A container with no cluster id and no pod of this store stays, and is reported."""
        a = planes("a")
        pod = make_pod("old", {"containers": [{"name": "main", "image": "reconciler/busybox:1",
                                               "command": ["sleep", "3600"]}]})
        self._legacy(RuntimeConfig(prefix=test_prefix, extra_labels={TEST_LABEL: "1"}), pod)
        found = containers_of(docker_client, test_prefix, pod.uid)
        assert found and all(naming.CLUSTER not in c["Labels"] for c in found)
        a.start()
        cond = a.converge(lambda: next((c for c in (a.store.get_node("local") or node())
                                        .conditions if c.type == FOREIGN), None))
        assert "2 containers with no cluster id" in cond.message
        assert {c["Id"] for c in containers_of(docker_client, test_prefix, pod.uid)} == {
            c["Id"] for c in found}

    def test_ones_of_a_known_pod_uid_are_adopted(
        self, planes: Callable[[str], Plane], docker_client: docker.DockerClient, test_prefix: str
    ) -> None:
        """Containers with no cluster id whose pod uid this store knows are its own: adopted."""
        a = planes("a")
        (a.desired / "web.yaml").write_text(POD_YAML.format(name="web"))
        a.start()
        (web,) = a.converge(a.running)
        # The same pod as a version before cluster ids ran it: remove ours, start unlabelled.
        for c in containers_of(docker_client, test_prefix, web.uid):
            docker_client.api.remove_container(c["Id"], force=True)
        self._legacy(RuntimeConfig(prefix=test_prefix, extra_labels={TEST_LABEL: "1"}), web)
        legacy = {c["Id"] for c in containers_of(docker_client, test_prefix, web.uid)}
        a.loop.process(WorkKey(NODE_GC, "local"))
        a.converge(a.running)
        assert {c["Id"] for c in containers_of(docker_client, test_prefix, web.uid)} == legacy
        assert not (a.store.get_node("local") or node()).conditions
