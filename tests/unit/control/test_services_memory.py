"""The service controller on an in-memory store (the `ControlStore` port), without a database."""

from __future__ import annotations

import dataclasses

from reconciler.api.types import JSON, Key
from reconciler.control.context import SERVICE
from reconciler.control.loop import WorkKey
from reconciler.control.services import ServiceController
from reconciler.store.records import ObjectRecord

from .memory_store import NOW, MemoryStore, memory_context

KEY = Key("Service", "default", "web")
BODY: JSON = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def setup() -> tuple[MemoryStore, ServiceController]:
    store = MemoryStore()
    store.objects_[KEY] = ObjectRecord(KEY, "uid-web", "v1", BODY, "web.yaml", 1, 0, "h1", "folder",
                                       1, False, None, NOW, NOW)
    return store, ServiceController(memory_context(store))


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
