"""What controllers need of the store: `ControlStore`, the narrow port `Context.store` is typed as.

Sits between the controllers (`reconciler.control`) and the state store
(`reconciler.store.Store`, which satisfies it structurally): a controller
that only uses these methods can be unit-tested with an in-memory stand-in
instead of a database. Reads that the cache answers (`Context.cache`) are
still here for the cache-less path. A controller that needs another store
method adds it here, with the store's own signature. The cache's wiring
(`Context.start_cache`) needs the real `Store` (its engine and write
listeners) and checks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from reconciler.api.records import ClaimRecord, EventRecord, NodeRecord, PodRecord
from reconciler.api.selectors import LabelPredicate
from reconciler.api.types import JSON, Key
from reconciler.planning.allocation import NODE_PORT_RANGE
from reconciler.planning.diff import Plan, RecordedView
from reconciler.store.records import EndpointsRecord, ObjectRecord, RevisionRecord


class ControlStore(Protocol):
    """The store's methods the controllers call; see the module docstring."""

    def allocate_cluster_ip(self, owner: str, cidr: str, requested: str | None = None) -> str:
        """The cluster IP of service `owner` ("ns/name"): kept if held, else allocated."""
        ...

    def allocate_node_port(
        self,
        owner: str,
        slot: str,
        requested: int | None = None,
        port_range: tuple[int, int] = NODE_PORT_RANGE,
    ) -> int:
        """The node port of service `owner` for port `slot` (its name or number)."""
        ...

    def allocations(self, owner: str) -> dict[str, str]:
        """What `owner` holds: {"cluster-ip": "10.96.0.20", "node-port/http": "30080"}."""
        ...

    def apply_plan(self, plan: Plan, revision: str = "", now: datetime | None = None) -> None:
        """Record a plan in one transaction: create, update, delete, refresh, mark stale."""
        ...

    def batch(self) -> AbstractContextManager[object]:
        """Run every write of this thread inside the block in one transaction."""
        ...

    def bind_claim(self, namespace: str, name: str, node_name: str) -> bool:
        """Bind an unbound claim to a node; False when it is missing or already bound."""
        ...

    def cluster_id(self) -> str:
        """The store's identity on the Docker hosts (the service's runtime configuration)."""
        ...

    def cluster_ips(self) -> dict[str, str]:
        """Every owner's cluster IP in one read: {"ns/name": "10.96.0.20"}."""
        ...

    def create_pods(self, pods: Iterable[PodRecord]) -> list[PodRecord]:
        """Insert the pods whose namespace/name is free; return the pods that hold the others."""
        ...

    def delete_claim(self, namespace: str, name: str) -> bool:
        """Delete a claim's record (its volume is the claim controller's); False if missing."""
        ...

    def delete_endpoints(self, namespace: str, name: str) -> bool:
        """Forget a service's endpoints; False when there were none."""
        ...

    def delete_node(self, name: str) -> bool:
        """Forget a node; False when it was not registered."""
        ...

    def delete_pod(self, uid: str) -> bool:
        """Delete a pod (and its container statuses); False when it was not there."""
        ...

    def endpoints_revision(self) -> int:
        """The endpoints counter: read it before the endpoints, and they are at least this new."""
        ...

    def ensure_claims(self, claims: Iterable[ClaimRecord]) -> list[ClaimRecord]:
        """Insert the claims not stored yet (by namespace/name); return the stored records."""
        ...

    def get_claim(self, namespace: str, name: str) -> ClaimRecord | None:
        """One claim, or None."""
        ...

    def get_endpoints(self, namespace: str, name: str) -> EndpointsRecord | None:
        """One service's endpoints, or None when never computed."""
        ...

    def get_node(self, name: str) -> NodeRecord | None:
        """One node by name, or None."""
        ...

    def get_object(self, key: Key) -> ObjectRecord | None:
        """One recorded object, or None."""
        ...

    def get_pod(self, namespace: str, name: str) -> PodRecord | None:
        """One pod by namespace and name, or None."""
        ...

    def get_pod_by_uid(self, uid: str) -> PodRecord | None:
        """One pod by uid, or None."""
        ...

    def list_claims(
        self, namespace: str | None = None, owner_uid: str | None = None
    ) -> list[ClaimRecord]:
        """Claims sorted by namespace and name, optionally of one namespace and one owner."""
        ...

    def list_endpoints(self, namespace: str | None = None) -> list[EndpointsRecord]:
        """All endpoints (of one namespace), sorted by namespace and name."""
        ...

    def list_nodes(self) -> list[NodeRecord]:
        """Every registered node, sorted by name."""
        ...

    def list_pods(
        self,
        namespace: str | None = None,
        selector: LabelPredicate | None = None,
        *,
        node: str | None = None,
        owner_uid: str | None = None,
        containers: bool = True,
    ) -> list[PodRecord]:
        """Pods sorted by namespace and name, filtered by namespace, labels, node, owner."""
        ...

    def mark_claims_deleted(self, claims: Iterable[ClaimRecord], now: datetime) -> None:
        """Mark claims for removal; a claim already marked keeps its first timestamp."""
        ...

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[ObjectRecord]:
        """Recorded objects, optionally of one kind and one namespace, sorted by key."""
        ...

    def owned_objects(self, source: str) -> list[Key]:
        """The keys of the objects `source` wrote."""
        ...

    def patch_pod(self, pod: PodRecord, *fields: str) -> bool:
        """`patch_pods` for one pod; False when the pod no longer exists."""
        ...

    def patch_pods(self, pods: Iterable[PodRecord], fields: Iterable[str]) -> int:
        """Write only some field groups of existing pods; returns how many pods were found."""
        ...

    def proxies_behind(self, revision: int, fresh: float) -> list[str]:
        """Nodes whose proxy has not applied endpoints `revision` yet, among the live ones."""
        ...

    def record_event(self, event: EventRecord, now: datetime | None = None) -> EventRecord:
        """Add an event, or count a repeat of an identical one; returns the stored event."""
        ...

    def queue_event(self, event: EventRecord, now: datetime | None = None,
                    then: Callable[[EventRecord], None] | None = None) -> None:
        """Record `event` later, in a batch; `then` is told of it once stored."""
        ...

    def flush_events(self, timeout: float = 10.0) -> bool:
        """Write the queued events now and wait; False when not all were stored in time."""
        ...

    def recorded(self) -> dict[Key, RecordedView]:
        """Every recorded object as the planner sees it."""
        ...

    def release_allocations(
        self, owner: str, kind: str | None = None, slot: str | None = None
    ) -> int:
        """Free what `owner` holds (of one kind and slot); returns how many were freed."""
        ...

    def report_node(self, node: NodeRecord, fields: Iterable[str],
                    labels: Mapping[str, str] | None = None, *,
                    if_silent: bool = False) -> bool:
        """Write observed columns of a node whose row still has `node.engine_url` (and,
        `if_silent`, still `node.last_heartbeat`)."""
        ...

    def revision(self) -> RevisionRecord | None:
        """The revision applied last, or None before the first apply."""
        ...

    def set_endpoints(
        self, namespace: str, name: str, subsets: list[JSON], now: datetime | None = None
    ) -> None:
        """Replace a service's endpoints."""
        ...

    def set_revision(self, revision: str, source: str, now: datetime | None = None,
                     device: int | None = None) -> None:
        """Record that `revision` (a git SHA or a folder's hash) of `source` was applied;
        `device` is a folder's st_dev."""
        ...

    def set_revision_device(self, device: int) -> None:
        """The newest revision row was read from `device` (its time unchanged)."""
        ...

    def set_status(self, key: Key, status: JSON) -> bool:
        """Replace an object's status JSON; False when the object is not recorded."""
        ...

    def upsert_node(self, node: NodeRecord) -> None:
        """Insert or replace a node."""
        ...

    def write_owned(self, source: str, upserts: Sequence[tuple[Key, JSON]],
                    deletes: Sequence[Key] = (), now: datetime | None = None) -> list[Key]:
        """Write `upserts` and remove `deletes` in one transaction, as written by `source`."""
        ...
