"""The service controller on an in-memory store (the `ControlStore` port), without a database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, cast

from reconciler.api.records import PodRecord
from reconciler.api.types import JSON, Key
from reconciler.control.context import SERVICE, Context, Settings
from reconciler.control.loop import WorkKey
from reconciler.control.queue import WorkQueue
from reconciler.control.services import ServiceController
from reconciler.control.storeport import ControlStore
from reconciler.runtime.types import RuntimeConfig
from reconciler.store.records import EndpointsRecord, ObjectRecord

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = Key("Service", "default", "web")
BODY: JSON = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


class MemoryStore:
    """The few store methods the service controller calls, in dicts; counts the writes."""

    def __init__(self) -> None:
        self.objects_: dict[Key, ObjectRecord] = {}
        self.pods: list[PodRecord] = []
        self.endpoints: dict[tuple[str, str], list[JSON]] = {}
        self.ips: dict[str, str] = {}
        self.writes: list[str] = []

    def get_object(self, key: Key) -> ObjectRecord | None:
        return self.objects_.get(key)

    def set_status(self, key: Key, status: JSON) -> bool:
        self.writes.append("status")
        self.objects_[key] = dataclasses.replace(self.objects_[key], status=status)
        return True

    def allocate_cluster_ip(self, owner: str, cidr: str, requested: str | None = None) -> str:
        self.writes.append("allocate")
        return self.ips.setdefault(owner, f"10.96.0.{10 + len(self.ips)}")

    def allocations(self, owner: str) -> dict[str, str]:
        return {"cluster-ip": self.ips[owner]} if owner in self.ips else {}

    def release_allocations(self, owner: str, kind: str | None = None,
                            slot: str | None = None) -> int:
        self.writes.append("release")
        return int(self.ips.pop(owner, None) is not None)

    def list_pods(self, namespace: str | None = None, selector: Any = None,
                  **_: Any) -> list[PodRecord]:
        return [p for p in self.pods if (namespace is None or p.namespace == namespace)
                and (selector is None or selector(p.labels))]

    def get_endpoints(self, namespace: str, name: str) -> EndpointsRecord | None:
        subsets = self.endpoints.get((namespace, name))
        return None if subsets is None else EndpointsRecord(namespace, name, subsets, NOW, NOW)

    def set_endpoints(self, namespace: str, name: str, subsets: list[JSON],
                      now: datetime | None = None) -> None:
        self.writes.append("endpoints")
        self.endpoints[(namespace, name)] = subsets

    def delete_endpoints(self, namespace: str, name: str) -> bool:
        self.writes.append("delete-endpoints")
        return self.endpoints.pop((namespace, name), None) is not None


def setup() -> tuple[MemoryStore, ServiceController]:
    store = MemoryStore()
    store.objects_[KEY] = ObjectRecord(KEY, "uid-web", "v1", BODY, "web.yaml", 1, 0, "h1", "folder",
                                       1, False, None, NOW, NOW)
    ctx = Context(store=cast(ControlStore, store), queue=WorkQueue(), runtime=RuntimeConfig(),
                  settings=Settings())
    return store, ServiceController(ctx)


class TestServiceControllerInMemory:
    def test_first_reconcile_allocates_and_writes(self) -> None:
        """The first pass allocates a cluster IP, records it in the status and the endpoints."""
        store, ctl = setup()
        ctl.reconcile(WorkKey(SERVICE, KEY))
        assert store.writes == ["allocate", "status", "endpoints"]
        status = store.objects_[KEY].status
        assert status is not None and status["clusterIP"] == "10.96.0.10"

    def test_unchanged_service_writes_nothing(self) -> None:
        """A resync of an unchanged Service with unchanged pods writes nothing."""
        store, ctl = setup()
        ctl.reconcile(WorkKey(SERVICE, KEY))
        store.writes.clear()
        ctl.reconcile(WorkKey(SERVICE, KEY))
        assert store.writes == []

    def test_changed_body_allocates_again(self) -> None:
        """A new content hash (the Service was edited) goes through allocation again."""
        store, ctl = setup()
        ctl.reconcile(WorkKey(SERVICE, KEY))
        store.writes.clear()
        store.objects_[KEY] = dataclasses.replace(store.objects_[KEY], content_hash="h2",
                                                  generation=2)
        ctl.reconcile(WorkKey(SERVICE, KEY))
        assert store.writes == ["allocate"]

    def test_deleted_service_releases(self) -> None:
        """A Service no longer recorded loses its allocation and its endpoints."""
        store, ctl = setup()
        ctl.reconcile(WorkKey(SERVICE, KEY))
        del store.objects_[KEY]
        store.writes.clear()
        ctl.reconcile(WorkKey(SERVICE, KEY))
        assert store.writes == ["release", "delete-endpoints"]
        assert store.endpoints == {}
