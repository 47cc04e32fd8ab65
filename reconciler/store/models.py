"""SQLAlchemy 2 table models of the state store: desired objects, pods, claims, nodes, events.

Sits under `reconciler.store.store`, which converts these rows to and from the
plain records of `reconciler.api`; nothing outside the store imports this module.
The schema itself is owned by the alembic migrations in `migrations/versions/`;
these models must describe the head revision (a unit test compares them).
Timestamps are stored as naive UTC and returned as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python: SQLite keeps no time zone."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
        str: String,
    }


def table(model: type[Base]) -> Table:
    """A model's table: Core statements on it skip the ORM's per-statement work."""
    return cast(Table, model.__table__)  # declarative: always a Table


class ObjectRow(Base):
    """A desired object as last applied from the folder, plus the status controllers write."""

    __tablename__ = "objects"
    __table_args__ = (UniqueConstraint("kind", "namespace", "name", name="uq_objects_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(63))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    api_version: Mapped[str] = mapped_column(String(63))
    body: Mapped[dict[str, Any]]
    source_file: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer, default=1)
    document: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    revision: Mapped[str] = mapped_column(String(64), default="")
    generation: Mapped[int] = mapped_column(Integer, default=1)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PodRow(Base):
    """A pod (declared or controller-made) with its observed status, container statuses
    included (a JSON list in status order, `convert.containers_values`; 0012)."""

    __tablename__ = "pods"
    __table_args__ = (
        UniqueConstraint("namespace", "name", name="uq_pods_name"),
        Index("ix_pods_node", "node_name"),
        Index("ix_pods_owner", "owner_uid"),
    )

    uid: Mapped[str] = mapped_column(String(36), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    spec: Mapped[dict[str, Any]]
    spec_hash: Mapped[str] = mapped_column(String(64))
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    owner_kind: Mapped[str | None] = mapped_column(String(63))
    owner_name: Mapped[str | None] = mapped_column(String(253))
    owner_uid: Mapped[str | None] = mapped_column(String(36))
    owner_api_version: Mapped[str | None] = mapped_column(String(63))
    owner_controller: Mapped[bool | None] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))
    node_name: Mapped[str] = mapped_column(String(253), default="")
    phase: Mapped[str] = mapped_column(String(16), default="Pending")
    reason: Mapped[str] = mapped_column(String(253), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    pod_ip: Mapped[str] = mapped_column(String(45), default="")
    host_ip: Mapped[str] = mapped_column(String(45), default="")
    ports: Mapped[dict[str, Any]]
    start_time: Mapped[datetime | None]
    conditions: Mapped[list[Any]]
    deletion_timestamp: Mapped[datetime | None]
    revision: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    containers: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")


class ClaimRow(Base):
    """A persistent volume claim: a Docker named volume that outlives its pods (StatefulSets)."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("namespace", "name", name="uq_claims_name"),
        Index("ix_claims_owner", "owner_uid"),
    )

    uid: Mapped[str] = mapped_column(String(36), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    owner_kind: Mapped[str | None] = mapped_column(String(63))
    owner_name: Mapped[str | None] = mapped_column(String(253))
    owner_uid: Mapped[str | None] = mapped_column(String(36))
    owner_api_version: Mapped[str | None] = mapped_column(String(63))
    owner_controller: Mapped[bool | None] = mapped_column(Boolean)
    storage: Mapped[str] = mapped_column(String(63), default="")
    access_modes: Mapped[list[Any]]
    labels: Mapped[dict[str, Any]]
    node_name: Mapped[str] = mapped_column(String(253), default="")
    volume: Mapped[str] = mapped_column(String(512), default="")
    deletion_timestamp: Mapped[datetime | None]
    created_at: Mapped[datetime]


class NodeRow(Base):
    """A registered Docker host and its last observed status."""

    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    engine_url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    labels: Mapped[dict[str, Any]]
    address: Mapped[str] = mapped_column(String(253), default="")
    tls: Mapped[dict[str, Any]]
    override_cpu_milli: Mapped[int | None] = mapped_column(Integer)
    override_memory: Mapped[int | None] = mapped_column(BigInteger)
    unschedulable: Mapped[bool] = mapped_column(Boolean, default=False)
    cpu_milli: Mapped[int] = mapped_column(Integer, default=0)
    # Bytes: past 2^31 on any real host, and PostgreSQL's integer is 32-bit (0007).
    memory: Mapped[int] = mapped_column(BigInteger, default=0)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(253), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    engine_version: Mapped[str] = mapped_column(String(63), default="")
    os_image: Mapped[str] = mapped_column(String(253), default="")
    kernel_version: Mapped[str] = mapped_column(String(253), default="")
    last_heartbeat: Mapped[datetime | None]
    declared: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    max_pods: Mapped[int] = mapped_column(Integer, default=110)
    pod_addresses: Mapped[int] = mapped_column(Integer, default=0)
    taints: Mapped[list[Any]] = mapped_column(JSON, default=list)


class EventRow(Base):
    """An event; a repeat of object + type + reason + message + source bumps count and last_seen."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_object", "namespace", "kind", "name"),
        Index("ix_events_last_seen", "last_seen"),
        Index("ux_events_fingerprint", "fingerprint", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(253))
    uid: Mapped[str] = mapped_column(String(36), default="")
    type: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(253))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(253))
    host: Mapped[str] = mapped_column(String(253), default="")
    count: Mapped[int] = mapped_column(BigInteger, default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    # SHA-256 of the fields a repeat matches (events.fingerprint): the upsert's conflict key.
    fingerprint: Mapped[str] = mapped_column(String(64), server_default="")


class RevisionRow(Base):
    """One application of the desired state: a git SHA or "folder", newest has the highest id."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    revision: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime]
    # The folder's st_dev at the apply (migration 0013); None for git revisions.
    device: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class EndpointsRow(Base):
    """The computed endpoints of a service: `subsets` as in Kubernetes' Endpoints object."""

    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("namespace", "name", name="uq_endpoints_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    subsets: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AllocationRow(Base):
    """A cluster IP or node port held by a service ("ns/name"), per slot (port) for node ports."""

    __tablename__ = "allocations"
    __table_args__ = (
        UniqueConstraint("kind", "value", name="uq_allocations_value"),
        UniqueConstraint("kind", "owner", "slot", name="uq_allocations_owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "cluster-ip" | "node-port"
    value: Mapped[str] = mapped_column(String(45))
    owner: Mapped[str] = mapped_column(String(512))
    slot: Mapped[str] = mapped_column(String(253), default="")
    created_at: Mapped[datetime]


class LeaseRow(Base):
    """A named lease: only its holder acts until expires_at passes without a renewal."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    holder: Mapped[str] = mapped_column(String(253))
    acquired_at: Mapped[datetime]
    renewed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Rises on each takeover and is never reset (the row outlives a release), so a
    # paused former holder can always be told apart from the current one.
    epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ClusterRow(Base):
    """The store's identity: one row, made when the store was created."""

    __tablename__ = "cluster"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime]


class ComponentRow(Base):
    """The health of one part of the running service, as `get componentstatuses` shows it."""

    __tablename__ = "components"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    healthy: Mapped[bool]
    message: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class FeedRevisionRow(Base):
    """A counter per topic the proxies read (services, endpoints, pods, nodes), bumped by
    triggers (migration 0008) on every change a proxy depends on, whoever writes."""

    __tablename__ = "feed_revisions"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


class StoreRevisionRow(Base):
    """One row (id 1) bumped by every data write transaction: who else wrote (migration 0009)."""

    __tablename__ = "store_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


class ProxyAckRow(Base):
    """The endpoints revision a host's proxy last applied: what a deleted pod's drain waits for."""

    __tablename__ = "proxy_acks"

    node: Mapped[str] = mapped_column(String(253), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    mode: Mapped[str] = mapped_column(String(16), default="")
    applied_at: Mapped[datetime]


class RequestRow(Base):
    """A request to the active instance (`reconciler sync`, `delete`), from any machine:
    the instance holding the lease takes it (migration 0011, store/requests.py)."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(253), default="")
    requested_at: Mapped[datetime]
    handled_by: Mapped[str] = mapped_column(String(253), default="")
    handled_at: Mapped[datetime | None]
