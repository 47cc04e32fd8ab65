"""Pod name collisions: the second claimant of a name gets an error, the holder is untouched.

Issue 14, problem 5: a Pod manifest named `web-0` next to StatefulSet `web`
replaced the set's member (its containers were killed) and the set then
reported that its pod already existed. Now the pod that held the name first
keeps it, with its containers; the later claimant gets a Warning FailedCreate
event in Kubernetes' words (`pods "web-0" already exists`), shown by
`describe` of that name. Run on the real engine and SQLite with the crash
harness's control plane (tests/faults/crash_harness.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest

from reconciler.api.records import PodRecord
from reconciler.runtime import naming
from reconciler.store import Store
from tests.faults.crash_harness import Faults, Plane
from tests.faults.invariants import assert_invariants

pytestmark = pytest.mark.docker


def member_set(name: str, replicas: int = 1) -> str:
    return f"""\
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}}}
spec:
  serviceName: {name}
  replicas: {replicas}
  selector: {{matchLabels: {{app: member}}}}
  template:
    metadata: {{labels: {{app: member}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{{name: main, image: reconciler/busybox:1, command: [sleep, "3600"]}}]
"""


def manifest_pod(name: str) -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: squatter}}}}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{{name: main, image: reconciler/busybox:1, command: [sleep, "3601"]}}]
"""


class World:
    """A desired folder, a store and a prefix; `converge` restarts a plane and runs it."""

    def __init__(self, tmp: Path, prefix: str, client: docker.DockerClient) -> None:
        self.desired = tmp / "desired"
        self.desired.mkdir()
        self.state = tmp / "state.db"
        self.prefix = prefix
        self.client = client
        self.set_name = f"s{prefix}"  # claim-free, but names stay apart from other tests'

    def converge(self, until: str, source: str = "") -> None:
        """Run a plane until pod `until` (from `source`, if given) runs, invariants holding."""
        plane = Plane(self.state, self.desired, self.prefix, Faults(""))
        try:
            plane.start()
            assert plane.converge(lambda: self._running(plane.store, until, source)
                                  and not plane.violations(self.client), timeout=60)
        finally:
            plane.close()

    def _running(self, store: Store, name: str, source: str) -> bool:
        pod = store.get_pod("default", name)
        return (pod is not None and pod.phase == "Running" and source in ("", pod.source)
                and bool(self.containers(pod.uid)))

    def containers(self, uid: str) -> list[str]:
        found = self.client.api.containers(
            all=True, filters={"label": [f"{naming.PREFIX}={self.prefix}",
                                         f"{naming.POD_UID}={uid}"]})
        return sorted(c["Id"] for c in found if c["State"] == "running")

    def check(self) -> None:
        with Store.open(str(self.state)) as store:
            assert_invariants(store, self.client, self.prefix, self.desired)


@pytest.fixture
def world(tmp_path: Path, test_prefix: str, docker_client: docker.DockerClient,
          local_images: None) -> Iterator[World]:
    yield World(tmp_path, test_prefix, docker_client)


class TestManifestPodAgainstController:
    def test_manifest_pod_does_not_replace_a_set_member(self, world: World) -> None:
        """Pod `<set>-0` declared next to the running set: member untouched, FailedCreate."""
        member = f"{world.set_name}-0"
        (world.desired / "set.yaml").write_text(member_set(world.set_name))
        world.converge(member)
        with Store.open(str(world.state)) as store:
            before = store.get_pod("default", member)
        assert before is not None and before.owner is not None
        containers = world.containers(before.uid)

        (world.desired / "pod.yaml").write_text(manifest_pod(member))
        world.converge(member)
        world.converge(member)  # a second restart and pass changes nothing either

        with Store.open(str(world.state)) as store:
            after = store.get_pod("default", member)
            events = store.list_events("default", "Pod", member)
            set_events = store.list_events("default", "StatefulSet", world.set_name)
        assert after is not None and after.uid == before.uid and after.owner == before.owner
        assert after.spec_hash == before.spec_hash and after.deletion_timestamp is None
        assert world.containers(after.uid) == containers, "the member's containers were replaced"
        failed = [e for e in events if e.type == "Warning" and e.reason == "FailedCreate"]
        assert failed and f'pods "{member}" already exists' in failed[0].message
        assert not any("already exists" in e.message for e in set_events)
        world.check()

    def test_manifest_pod_takes_the_name_once_free(self, world: World) -> None:
        """The set scaled to 0 gives the name up: the waiting Pod manifest runs under it."""
        member = f"{world.set_name}-0"
        (world.desired / "set.yaml").write_text(member_set(world.set_name))
        world.converge(member, "controller")
        (world.desired / "pod.yaml").write_text(manifest_pod(member))
        world.converge(member, "controller")
        (world.desired / "set.yaml").write_text(member_set(world.set_name, 0))
        world.converge(member, "manifest")
        world.check()

    def test_set_does_not_replace_a_manifest_pod(self, world: World) -> None:
        """Pod `<set>-0` declared first, then the set: the Pod keeps the name, the set says why."""
        member = f"{world.set_name}-0"
        (world.desired / "pod.yaml").write_text(manifest_pod(member))
        world.converge(member)
        with Store.open(str(world.state)) as store:
            before = store.get_pod("default", member)
        assert before is not None and before.source == "manifest"
        containers = world.containers(before.uid)

        (world.desired / "set.yaml").write_text(member_set(world.set_name))
        world.converge(member)

        with Store.open(str(world.state)) as store:
            after = store.get_pod("default", member)
            set_events = store.list_events("default", "StatefulSet", world.set_name)
        assert after is not None and after.uid == before.uid and after.owner is None
        assert world.containers(after.uid) == containers
        failed = [e for e in set_events if e.reason == "FailedCreate"]
        assert failed and failed[0].message == (
            f"create Pod {member} in StatefulSet {world.set_name} failed error: "
            f'pods "{member}" already exists')
        world.check()


def rc(name: str) -> str:
    return f"""\
apiVersion: v1
kind: ReplicationController
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{app: replica}}
  template:
    metadata: {{labels: {{app: replica}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{{name: main, image: reconciler/busybox:1, command: [sleep, "3600"]}}]
"""


class TestReplicationAgainstManifestPod:
    def test_generated_name_held_by_a_manifest_pod(self, world: World,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        """An RC's generated name held by a Pod: the Pod untouched, FailedCreate, another name."""
        squatter = f"r{world.prefix}-abcde"
        (world.desired / "pod.yaml").write_text(manifest_pod(squatter))
        world.converge(squatter)
        with Store.open(str(world.state)) as store:
            before = store.get_pod("default", squatter)
        assert before is not None
        containers = world.containers(before.uid)
        drawn: list[str] = []

        def collide_first(base: str) -> str:  # the first draw is the Pod's name
            drawn.append(f"{base}-abcde" if not drawn else f"{base}-{len(drawn):05d}")
            return drawn[-1]

        monkeypatch.setattr("reconciler.control.replication.generate_name", collide_first)
        (world.desired / "rc.yaml").write_text(rc(f"r{world.prefix}"))
        world.converge(f"r{world.prefix}-00001")

        with Store.open(str(world.state)) as store:
            after = store.get_pod("default", squatter)
            events = store.list_events("default", "ReplicationController", f"r{world.prefix}")
        assert after is not None and after.uid == before.uid and after.owner is None
        assert world.containers(after.uid) == containers
        assert any(e.reason == "FailedCreate" and f'pods "{squatter}" already exists' in e.message
                   for e in events)
        world.check()


def record(name: str, source: str = "controller") -> PodRecord:
    return PodRecord(uid=str(uuid.uuid4()), namespace="default", name=name, spec={},
                     spec_hash="h", created_at=datetime.now(UTC),
                     source="manifest" if source == "manifest" else "controller")


class TestCreatePods:
    def test_a_held_name_is_refused_and_its_holder_returned(self, tmp_path: Path) -> None:
        """create_pods inserts free names only and returns the pods holding the others."""
        with Store.open(str(tmp_path / "state.db")) as store:
            first = record("web-0")
            assert store.create_pods([first]) == []
            second, free = record("web-0", "manifest"), record("web-1")
            held = store.create_pods([second, free])
            assert [p.uid for p in held] == [first.uid]
            assert store.get_pod("default", "web-0") is not None
            assert store.get_pod("default", "web-0").uid == first.uid  # type: ignore[union-attr]
            assert store.get_pod("default", "web-1") is not None
