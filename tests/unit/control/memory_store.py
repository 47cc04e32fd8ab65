"""An in-memory stand-in for the controllers' store port (`ControlStore`), for unit tests.

Holds the store methods the service, replication and Deployment controllers call,
in dicts, with the real store's semantics where a controller depends on them:
reads return copies, `create_pods` leaves a taken name to its holder,
`patch_pods` writes only the named field groups, `write_owned` never overwrites
a manifest's object. `writes` names each write in order; `events` holds the
queued events. For the pure core's unit tests only: the real `Store` is tested
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from reconciler.api.defaults import content_hash
from reconciler.api.records import EventRecord, PodRecord
from reconciler.api.types import JSON, Key
from reconciler.control.cache_records import PATCH_FIELDS
from reconciler.control.context import Context, Settings
from reconciler.control.queue import WorkQueue
from reconciler.control.storeport import ControlStore
from reconciler.planning.diff import OWNED_SOURCE_PREFIX
from reconciler.runtime.types import RuntimeConfig
from reconciler.store.records import EndpointsRecord, ObjectRecord

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryStore:
    """The store methods the controllers under test call; see the module docstring."""

    def __init__(self) -> None:
        self.objects_: dict[Key, ObjectRecord] = {}
        self.pods: dict[str, PodRecord] = {}  # by uid
        self.endpoints: dict[tuple[str, str], list[JSON]] = {}
        self.ips: dict[str, str] = {}
        self.writes: list[str] = []
        self.events: list[EventRecord] = []
        # Called with the pods at the start of each `create_pods`, before they are stored.
        self.before_create: Callable[[list[PodRecord]], None] | None = None

    # -- objects --
    def put_object(self, key: Key, body: JSON, *, uid: str = "",
                   source_file: str = "manifest.yaml") -> ObjectRecord:
        """Record (or replace) an object as the desired pass would; the generation moves
        when the body does."""
        old = self.objects_.get(key)
        hash_ = content_hash(body)
        generation = 1 if old is None else old.generation + int(old.content_hash != hash_)
        record = ObjectRecord(
            key, uid or (old.uid if old else str(uuid.uuid4())),
            str(body.get("apiVersion", "v1")), copy.deepcopy(body), source_file, 1, 0, hash_,
            "folder", generation, False, old.status if old else None,
            old.created_at if old else NOW, NOW)
        self.objects_[key] = record
        return record

    def get_object(self, key: Key) -> ObjectRecord | None:
        found = self.objects_.get(key)
        return copy.deepcopy(found) if found is not None else None

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[ObjectRecord]:
        return [copy.deepcopy(o) for k, o in sorted(self.objects_.items())
                if (kind is None or k.kind == kind)
                and (namespace is None or k.namespace == namespace)]

    def set_status(self, key: Key, status: JSON) -> bool:
        self.writes.append("status")
        if key not in self.objects_:
            return False
        self.objects_[key] = dataclasses.replace(self.objects_[key],
                                                 status=copy.deepcopy(status))
        return True

    def write_owned(self, source: str, upserts: Sequence[tuple[Key, JSON]],
                    deletes: Sequence[Key] = (), now: datetime | None = None) -> list[Key]:
        self.writes.append("owned")
        refused: list[Key] = []
        for key, body in upserts:
            old = self.objects_.get(key)
            if old is not None and not old.source_file.startswith(OWNED_SOURCE_PREFIX):
                refused.append(key)
                continue
            self.put_object(key, body, source_file=source)
        for key in deletes:
            old = self.objects_.get(key)
            if old is not None and old.source_file.startswith(OWNED_SOURCE_PREFIX):
                del self.objects_[key]
        return refused

    def owned_objects(self, source: str) -> list[Key]:
        return sorted(k for k, o in self.objects_.items() if o.source_file == source)

    # -- pods --
    def list_pods(self, namespace: str | None = None,
                  selector: Callable[[dict[str, str]], bool] | None = None, *,
                  node: str | None = None, owner_uid: str | None = None,
                  containers: bool = True) -> list[PodRecord]:
        found = [p for p in self.pods.values()
                 if (namespace is None or p.namespace == namespace)
                 and (selector is None or selector(p.labels))
                 and (node is None or p.node_name == node)
                 and (owner_uid is None or (p.owner is not None and p.owner.uid == owner_uid))]
        return [copy.deepcopy(p) for p in sorted(found, key=lambda p: (p.namespace, p.name))]

    def create_pods(self, pods: Iterable[PodRecord]) -> list[PodRecord]:
        fresh = list(pods)
        if self.before_create is not None:
            self.before_create(fresh)
        self.writes.append("create")
        names = {(p.namespace, p.name): p for p in self.pods.values()}
        held: list[PodRecord] = []
        for pod in fresh:
            holder = names.get((pod.namespace, pod.name))
            if holder is not None:
                held.append(copy.deepcopy(holder))
            else:
                self.pods[pod.uid] = copy.deepcopy(pod)
        return held

    def patch_pods(self, pods: Iterable[PodRecord], fields: Iterable[str]) -> int:
        self.writes.append("patch")
        names = [name for group in fields for name in PATCH_FIELDS[group]]
        found = 0
        for pod in pods:
            stored = self.pods.get(pod.uid)
            if stored is None:
                continue
            found += 1
            for name in names:
                setattr(stored, name, copy.deepcopy(getattr(pod, name)))
        return found

    def patch_pod(self, pod: PodRecord, *fields: str) -> bool:
        return self.patch_pods([pod], fields) == 1

    # -- events --
    def queue_event(self, event: EventRecord, now: datetime | None = None,
                    then: Callable[[EventRecord], None] | None = None) -> None:
        self.events.append(event)
        if then is not None:
            then(event)

    # -- services: allocations and endpoints --
    def allocate_cluster_ip(self, owner: str, cidr: str, requested: str | None = None) -> str:
        self.writes.append("allocate")
        return self.ips.setdefault(owner, f"10.96.0.{10 + len(self.ips)}")

    def allocations(self, owner: str) -> dict[str, str]:
        return {"cluster-ip": self.ips[owner]} if owner in self.ips else {}

    def release_allocations(self, owner: str, kind: str | None = None,
                            slot: str | None = None) -> int:
        self.writes.append("release")
        return int(self.ips.pop(owner, None) is not None)

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


def memory_context(store: MemoryStore, clock: Callable[[], datetime] = lambda: NOW,
                   **fields: Any) -> Context:
    """A controllers' Context on `store`, without a cache (reads go to the store)."""
    return Context(store=cast(ControlStore, store), queue=WorkQueue(), runtime=RuntimeConfig(),
                   settings=Settings(), clock=clock, **fields)
