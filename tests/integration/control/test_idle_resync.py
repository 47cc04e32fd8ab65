"""A resync with nothing changed: the replication and service controllers skip their
reconciles (reconciler/control/unchanged.py), and act again once a pod or object changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from reconciler.api.types import Key
from reconciler.control import desired, replication, services
from reconciler.control.loop import WorkKey
from reconciler.control.registry import REGISTRY
from reconciler.store import Store
from tests.integration.control.harness import Cluster

MANIFESTS = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: a}
spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: main, image: reconciler/busybox:1, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.write("web.yaml", MANIFESTS)
    c.converge(3)
    yield c
    c.store.close()


def statements_by_controller(c: Cluster) -> dict[str, list[str]]:
    """Run one resync pass; the SQL each controller's reconciles sent."""
    seen: dict[str, list[str]] = {}
    current: list[str] = [""]

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.setdefault(current[0], []).append(statement.split(None, 1)[0].upper())

    process = c.loop.process

    def counted(key: WorkKey) -> None:
        current[0] = key.controller
        try:
            process(key)
        finally:
            current[0] = ""

    event.listen(c.store.engine, "before_cursor_execute", record)
    c.loop.process = counted  # type: ignore[method-assign]
    try:
        c.queue.add(WorkKey("replication", Key("ReplicationController", "default", "web")))
        c.queue.add(WorkKey("service", Key("Service", "default", "web")))
        c.converge(1)
    finally:
        event.remove(c.store.engine, "before_cursor_execute", record)
        c.loop.process = process  # type: ignore[method-assign]
    return seen


class TestIdleResync:
    def test_an_unchanged_pass_sends_no_sql_and_plans_nothing(
            self, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
        """Converged, a pass's RC and Service reconciles neither query nor plan."""
        planned: list[str] = []
        for module, name in ((replication, "plan_replicas"), (services, "compute_endpoints")):
            real = getattr(module, name)

            def counting(*args: Any, _real: Any = real, _name: str = name) -> Any:
                planned.append(_name)
                return _real(*args)

            monkeypatch.setattr(module, name, counting)
        assert len(cluster.running()) == 2
        statements_by_controller(cluster)  # the pass that sees the last status writes
        planned.clear()
        seen = statements_by_controller(cluster)
        assert seen.get("replication", []) == []
        assert seen.get("service", []) == []
        assert planned == []
        assert len(cluster.running()) == 2

    def test_a_pod_gone_after_an_idle_pass_is_replaced_and_leaves_the_endpoints(
            self, cluster: Cluster) -> None:
        """The skip lasts only while nothing changes: a removed pod is noticed at once."""
        statements_by_controller(cluster)
        gone = cluster.store.list_pods()[0]
        cluster.store.delete_pod(gone.uid)
        cluster.queue.add(WorkKey("replication", Key("ReplicationController", "default", "web")))
        cluster.queue.add(WorkKey("service", Key("Service", "default", "web")))
        cluster.converge(2)
        pods = cluster.running()
        assert len(pods) == 2 and gone.name not in pods
        endpoints = cluster.store.get_endpoints("default", "web")
        assert endpoints is not None
        ips = {a["ip"] for s in endpoints.subsets for a in s.get("addresses", [])}
        assert ips == {p.pod_ip for p in cluster.store.list_pods()}


OTHER = """\
apiVersion: v1
kind: Service
metadata: {name: other}
spec:
  selector: {app: other}
  ports: [{port: 80}]
"""


def woken_services(c: Cluster) -> set[str]:
    """Drain the queue without reconciling; the names of the Services it held."""
    names: set[str] = set()
    while (key := c.queue.get(timeout=0)) is not None:
        c.queue.done(key)
        if key.controller == "service" and isinstance(key.id, Key):
            names.add(key.id.name)
    return names


class TestRelatedServices:
    def test_a_status_change_wakes_only_the_services_selecting_the_pod(
            self, cluster: Cluster) -> None:
        """With its previous labels known, a pod's change reaches the Services that select it."""
        cluster.write("other.yaml", OTHER)
        cluster.converge(2)
        pod = cluster.store.list_pods()[0]
        woken_services(cluster)
        cluster.ctx.enqueue_related(pod, pod.labels)
        assert woken_services(cluster) == {"web"}

    def test_a_label_change_wakes_the_services_of_the_old_and_the_new_labels(
            self, cluster: Cluster) -> None:
        """The Service the pod leaves drops it; the one it joins adds it."""
        cluster.write("other.yaml", OTHER)
        cluster.converge(2)
        pod = cluster.store.list_pods()[0]
        woken_services(cluster)
        previous = dict(pod.labels)
        pod.labels = {"app": "other"}
        cluster.ctx.enqueue_related(pod, previous)
        assert woken_services(cluster) == {"web", "other"}

    def test_without_previous_labels_every_service_of_the_namespace_wakes(
            self, cluster: Cluster) -> None:
        """An unknown past cannot say which Service held the pod: all are woken."""
        cluster.write("other.yaml", OTHER)
        cluster.converge(2)
        pod = cluster.store.list_pods()[0]
        woken_services(cluster)
        pod.labels = {"app": "third"}
        cluster.ctx.enqueue_related(pod)
        assert woken_services(cluster) == {"web", "other"}


def queued(c: Cluster) -> set[WorkKey]:
    """Drain the queue without reconciling; the keys it held."""
    keys: set[WorkKey] = set()
    while (key := c.queue.get(timeout=0)) is not None:
        c.queue.done(key)
        keys.add(key)
    return keys


class TestResyncLeavesIdleKeysOut:
    def test_idle_keys_are_not_queued_and_a_changed_one_is(self, cluster: Cluster) -> None:
        """After an idle reconcile the resync skips the RC and the Service, until a pod changes."""
        rc = WorkKey("replication", Key("ReplicationController", "default", "web"))
        svc = WorkKey("service", Key("Service", "default", "web"))
        statements_by_controller(cluster)  # reconciled once with nothing to do: remembered
        REGISTRY.resync(cluster.ctx)
        keys = queued(cluster)
        assert rc not in keys and svc not in keys
        pod = cluster.store.list_pods()[0]
        cluster.store.delete_pod(pod.uid)
        REGISTRY.resync(cluster.ctx)
        keys = queued(cluster)
        assert rc in keys and svc in keys


@pytest.fixture
def any_cluster(tmp_path: Path, store_url: str) -> Iterator[Cluster]:
    c = Cluster(tmp_path, store_url)
    c.write("web.yaml", MANIFESTS)
    c.converge(3)
    yield c
    c.store.close()


class TestFullResync:
    def test_a_full_resync_queues_the_idle_keys(self, cluster: Cluster) -> None:
        """`reconciler sync`'s resync leaves no key out, idle or not."""
        rc = WorkKey("replication", Key("ReplicationController", "default", "web"))
        svc = WorkKey("service", Key("Service", "default", "web"))
        statements_by_controller(cluster)
        REGISTRY.resync(cluster.ctx, full=True)
        keys = queued(cluster)
        assert rc in keys and svc in keys

    def test_endpoints_removed_behind_the_memos_are_written_again(
            self, any_cluster: Cluster) -> None:
        """Endpoints deleted by another writer, unseen by the cache, are back after a full one."""
        c = any_cluster
        statements_by_controller(c)
        statements_by_controller(c)  # idle: remembered
        other = Store.open(c.state)
        try:
            other.delete_endpoints("default", "web")
        finally:
            other.close()
        assert c.store.get_endpoints("default", "web") is None
        REGISTRY.resync(c.ctx, full=True)
        c.converge(1)
        endpoints = c.store.get_endpoints("default", "web")
        assert endpoints is not None
        ips = {a["ip"] for s in endpoints.subsets for a in s.get("addresses", [])}
        assert ips == {p.pod_ip for p in c.store.list_pods()}


SOLO = """\
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  containers:
  - {name: main, image: reconciler/busybox:1, command: ["sleep", "3600"]}
"""


class TestQuietDesiredPass:
    def test_an_unchanged_pass_is_skipped_until_a_record_changes(
            self, any_cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
        """No file and no record changed: no diff; a pod record removed elsewhere: put back."""
        c = any_cluster
        c.write("solo.yaml", SOLO)
        c.converge(3)
        diffs: list[int] = []
        real = desired.diff

        def counting(*args: Any, **kwargs: Any) -> Any:
            diffs.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(desired, "diff", counting)
        c.converge(2)
        assert diffs == []  # converged: the last pass found nothing to do
        gone = c.store.get_pod("default", "solo")
        assert gone is not None
        other = Store.open(c.state)
        try:
            other.delete_pod(gone.uid)
        finally:
            other.close()
        cache = c.ctx.cache
        assert cache is not None
        deadline = time.monotonic() + 30
        while cache.pod_by_name("default", "solo") is not None:
            assert time.monotonic() < deadline, "the cache did not follow the store"
            time.sleep(0.05)
        c.converge(1)
        assert diffs == [1]
        back = c.store.get_pod("default", "solo")
        assert back is not None and back.uid != gone.uid
