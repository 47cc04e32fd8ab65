"""The invariant checker itself: each invariant reports what breaks it, on the real engine.

A checker that never complains proves nothing; these tests break each
invariant of tests/faults/invariants.py on purpose (a store and containers
made by hand) and expect exactly that violation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest

from reconciler.api.records import ClaimRecord, OwnerRef, PodRecord
from reconciler.api.types import Key
from reconciler.control.desired import spec_hash
from reconciler.manifests.loader import load_folder
from reconciler.planning.deployment import owned_source
from reconciler.planning.diff import diff
from reconciler.runtime import naming
from reconciler.store import Store
from tests.conftest import TEST_LABEL
from tests.faults.invariants import check

pytestmark = pytest.mark.docker

SPEC = {"containers": [{"name": "main", "image": "reconciler/busybox:1"}]}
DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: main, image: reconciler/busybox:1, command: [sleep, "%s"]}]
"""
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  containers: [{name: main, image: reconciler/busybox:1}]
"""


class Setup:
    """A store, a desired folder and a prefix; containers made by hand carry the pod labels."""

    def __init__(self, tmp: Path, prefix: str, client: docker.DockerClient) -> None:
        self.desired = tmp / "desired"
        self.desired.mkdir()
        self.store = Store.open(str(tmp / "state.db"))
        self.prefix = prefix
        self.client = client

    def pod(self, name: str) -> PodRecord:
        pod = PodRecord(uid=str(uuid.uuid4()), namespace="default", name=name, spec=SPEC,
                        spec_hash=spec_hash(SPEC), created_at=datetime.now(UTC))
        self.store.upsert_pod(pod)
        return pod

    def container(self, pod: PodRecord, role: str, restart: int = 0) -> None:
        labels = naming.container_labels(
            naming.pod_labels(self.prefix, pod, {TEST_LABEL: "1"}), role, init=False,
            restart=restart, spec_hash="h")
        self.client.api.create_container("reconciler/busybox:1", ["sleep", "60"], labels=labels)

    def found(self) -> list[str]:
        return sorted(f"{v.invariant} {v.subject.split(' (')[0]}"
                      for v in check(self.store, self.client, self.prefix, self.desired))


@pytest.fixture
def setup(tmp_path: Path, test_prefix: str, docker_client: docker.DockerClient,
          local_images: None) -> Iterator[Setup]:
    made = Setup(tmp_path, test_prefix, docker_client)
    yield made
    made.store.close()


class TestInvariants:
    def test_declared_pod_without_record(self, setup: Setup) -> None:
        """A Pod manifest with no record (not even its object) is reported."""
        (setup.desired / "solo.yaml").write_text(POD)
        assert setup.found() == ["declared Pod default/solo"]

    def test_pod_without_declaration(self, setup: Setup) -> None:
        """A live manifest pod whose manifest is gone is an orphan."""
        setup.pod("stray")
        assert setup.found() == ["orphan pod default/stray"]

    def test_container_without_pod(self, setup: Setup) -> None:
        """A container whose pod uid is no live record is an orphan."""
        pod = PodRecord(uid=str(uuid.uuid4()), namespace="default", name="gone", spec=SPEC,
                        spec_hash="h", created_at=datetime.now(UTC))
        setup.container(pod, naming.INFRA)
        (name,) = _names(setup)
        assert setup.found() == [f"orphan container {name}"]

    def test_two_instances_of_one_restart(self, setup: Setup) -> None:
        """Two containers for one spec container at one restart count are a duplicate."""
        (setup.desired / "solo.yaml").write_text(POD)
        pod = setup.pod("solo")
        setup.container(pod, "main")
        setup.container(pod, "main")
        found = setup.found()
        assert "duplicate pod default/solo" in found
        assert "declared Pod default/solo" in found  # the object itself was never recorded

    def test_lost_claim_volume(self, setup: Setup) -> None:
        """A bound claim whose Docker volume is gone is reported."""
        setup.store.ensure_claims([ClaimRecord("default", f"data-{setup.prefix}", "", None)])
        assert setup.store.bind_claim("default", f"data-{setup.prefix}", "local")
        assert setup.found() == [f"volume claim default/data-{setup.prefix}"]


    def test_deployment_on_an_old_template(self, setup: Setup) -> None:
        """A Deployment whose only pod belongs to the ReplicaSet of its previous template."""
        (setup.desired / "web.yaml").write_text(DEPLOY % "1")
        old = load_folder(setup.desired).objects[0]
        (setup.desired / "web.yaml").write_text(DEPLOY % "2")
        setup.store.apply_plan(diff(load_folder(setup.desired), setup.store.recorded()))
        template = old.body["spec"]["template"]
        rs = Key("ReplicaSet", "default", "web-old")
        setup.store.write_owned(owned_source("default", "web"), [(rs, {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-old", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": template}})])
        stored = setup.store.get_object(rs)
        assert stored is not None
        pod = PodRecord(uid=str(uuid.uuid4()), namespace="default", name="web-old-x",
                        spec=SPEC, spec_hash=spec_hash(SPEC), created_at=datetime.now(UTC),
                        owner=OwnerRef("ReplicaSet", "web-old", stored.uid))
        setup.store.upsert_pod(pod)
        assert setup.found() == ["declared Deployment default/web"] * 2


def _names(setup: Setup) -> set[str]:
    found = setup.client.api.containers(all=True,
                                        filters={"label": f"{naming.PREFIX}={setup.prefix}"})
    return {c["Names"][0].lstrip("/") for c in found}
