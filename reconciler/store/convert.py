"""Conversions between table rows and the plain records of `reconciler.api.records`.

Used by the store's query modules only. Rows are read with Core selects (row
mappings, no ORM identity map) because `reconciler get pods` over a thousand
pods must stay fast; writes use plain dicts for bulk inserts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.api.records import (
    ClaimRecord,
    Condition,
    ContainerStatus,
    EventRecord,
    NodeRecord,
    OwnerRef,
    PodRecord,
    Resources,
)

Row = Mapping[Any, Any]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def pod_values(pod: PodRecord) -> dict[str, Any]:
    """Column values of the pods table for a record, its container statuses included."""
    owner = pod.owner
    return {
        "uid": pod.uid,
        "namespace": pod.namespace,
        "name": pod.name,
        "spec": pod.spec,
        "spec_hash": pod.spec_hash,
        "labels": dict(pod.labels),
        "annotations": dict(pod.annotations),
        "owner_kind": owner.kind if owner else None,
        "owner_name": owner.name if owner else None,
        "owner_uid": owner.uid if owner else None,
        "owner_api_version": owner.api_version if owner else None,
        "owner_controller": owner.controller if owner else None,
        "source": pod.source,
        "node_name": pod.node_name,
        "phase": pod.phase,
        "reason": pod.reason,
        "message": pod.message,
        "pod_ip": pod.pod_ip,
        "host_ip": pod.host_ip,
        "ports": dict(pod.ports),
        "start_time": pod.start_time,
        "conditions": conditions_values(pod.conditions),
        "deletion_timestamp": pod.deletion_timestamp,
        "revision": pod.revision,
        "created_at": pod.created_at,
        "containers": containers_values(pod),
    }


_CONTAINER_TIMES = ("started_at", "finished_at", "last_started_at", "last_finished_at")


def containers_values(pod: PodRecord) -> list[dict[str, Any]]:
    """The pods.containers column: every container status, init ones first, in spec order."""
    return [
        {
            "name": c.name,
            "image": c.image,
            "state": c.state,
            "reason": c.reason,
            "message": c.message,
            "container_id": c.container_id,
            "image_id": c.image_id,
            "exit_code": c.exit_code,
            "started_at": _iso(c.started_at),
            "finished_at": _iso(c.finished_at),
            "ready": c.ready,
            "started": c.started,
            "restart_count": c.restart_count,
            "init": c.init,
            "last_exit_code": c.last_exit_code,
            "last_reason": c.last_reason,
            "last_started_at": _iso(c.last_started_at),
            "last_finished_at": _iso(c.last_finished_at),
        }
        for c in (*pod.init_containers, *pod.containers)
    ]


def to_containers(values: list[dict[str, Any]] | None) -> list[ContainerStatus]:
    """The container statuses of a pods.containers column, in its order."""
    out: list[ContainerStatus] = []
    for v in values or ():
        c = ContainerStatus(**v)
        for name in _CONTAINER_TIMES:
            if (value := v.get(name)) is not None:
                setattr(c, name, datetime.fromisoformat(value))
        out.append(c)
    return out


def owner_values(owner: OwnerRef | None) -> dict[str, Any]:
    """The owner_* columns of the pods and claims tables."""
    return {
        "owner_kind": owner.kind if owner else None,
        "owner_name": owner.name if owner else None,
        "owner_uid": owner.uid if owner else None,
        "owner_api_version": owner.api_version if owner else None,
        "owner_controller": owner.controller if owner else None,
    }


def to_owner(row: Row) -> OwnerRef | None:
    """The owner reference stored in a row's owner_* columns."""
    if row["owner_uid"] is None:
        return None
    return OwnerRef(
        kind=row["owner_kind"] or "",
        name=row["owner_name"] or "",
        uid=row["owner_uid"],
        api_version=row["owner_api_version"] or "v1",
        controller=bool(row["owner_controller"]),
    )


def to_pod(row: Row) -> PodRecord:
    """A PodRecord from a pods row (without its containers column: no container statuses)."""
    owner = to_owner(row)
    containers = to_containers(row.get("containers"))
    return PodRecord(
        uid=row["uid"],
        namespace=row["namespace"],
        name=row["name"],
        spec=row["spec"],
        spec_hash=row["spec_hash"],
        created_at=row["created_at"],
        labels=row["labels"],
        annotations=row["annotations"],
        owner=owner,
        source=row["source"],
        node_name=row["node_name"],
        phase=row["phase"],
        reason=row["reason"],
        message=row["message"],
        pod_ip=row["pod_ip"],
        host_ip=row["host_ip"],
        ports=row["ports"],
        start_time=row["start_time"],
        conditions=to_conditions(row["conditions"]),
        containers=[c for c in containers if not c.init],
        init_containers=[c for c in containers if c.init],
        deletion_timestamp=row["deletion_timestamp"],
        revision=row["revision"],
    )


def conditions_values(conditions: list[Condition]) -> list[dict[str, Any]]:
    """A pod's or node's conditions as the JSON column holds them."""
    return [
        {
            "type": c.type,
            "status": c.status,
            "reason": c.reason,
            "message": c.message,
            "last_transition": _iso(c.last_transition),
        }
        for c in conditions
    ]


def to_conditions(values: list[dict[str, Any]]) -> list[Condition]:
    return [
        Condition(
            type=c["type"],
            status=bool(c["status"]),
            reason=c.get("reason", ""),
            message=c.get("message", ""),
            last_transition=_from_iso(c.get("last_transition")),
        )
        for c in values
    ]


def node_values(node: NodeRecord) -> dict[str, Any]:
    """Column values of the nodes table for a record."""
    override = node.capacity_override
    return {
        "name": node.name,
        "engine_url": node.engine_url,
        "created_at": node.created_at,
        "labels": dict(node.labels),
        "address": node.address,
        "tls": dict(node.tls),
        "override_cpu_milli": override.cpu_milli if override else None,
        "override_memory": override.memory if override else None,
        "unschedulable": node.unschedulable,
        "cpu_milli": node.capacity.cpu_milli,
        "memory": node.capacity.memory,
        "ready": node.ready,
        "reason": node.reason,
        "message": node.message,
        "engine_version": node.engine_version,
        "os_image": node.os_image,
        "kernel_version": node.kernel_version,
        "last_heartbeat": node.last_heartbeat,
        "declared": node.declared,
        "conditions": conditions_values(node.conditions),
        "max_pods": node.max_pods,
        "pod_addresses": node.pod_addresses,
        "taints": [dict(t) for t in node.taints],
    }


def to_node(row: Row) -> NodeRecord:
    override = None
    if row["override_cpu_milli"] is not None or row["override_memory"] is not None:
        override = Resources(row["override_cpu_milli"] or 0, row["override_memory"] or 0)
    return NodeRecord(
        name=row["name"],
        engine_url=row["engine_url"],
        created_at=row["created_at"],
        labels=row["labels"],
        address=row["address"],
        tls=row["tls"],
        capacity_override=override,
        unschedulable=bool(row["unschedulable"]),
        capacity=Resources(row["cpu_milli"], row["memory"]),
        ready=bool(row["ready"]),
        reason=row["reason"],
        message=row["message"],
        engine_version=row["engine_version"],
        os_image=row["os_image"],
        kernel_version=row["kernel_version"],
        last_heartbeat=row["last_heartbeat"],
        declared=bool(row["declared"]),
        conditions=to_conditions(row["conditions"] or []),
        max_pods=row["max_pods"],
        pod_addresses=row["pod_addresses"],
        taints=list(row["taints"] or []),
    )


def to_event(row: Row) -> EventRecord:
    return EventRecord(
        namespace=row["namespace"],
        kind=row["kind"],
        name=row["name"],
        type=row["type"],
        reason=row["reason"],
        message=row["message"],
        source=row["source"],
        uid=row["uid"],
        host=row["host"],
        count=row["count"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
    )


def claim_values(claim: ClaimRecord) -> dict[str, Any]:
    """Column values of the claims table for a record."""
    return {
        "uid": claim.uid,
        "namespace": claim.namespace,
        "name": claim.name,
        **owner_values(claim.owner),
        "storage": claim.storage,
        "access_modes": list(claim.access_modes),
        "labels": dict(claim.labels),
        "node_name": claim.node_name,
        "volume": claim.volume,
        "deletion_timestamp": claim.deletion_timestamp,
        "created_at": claim.created_at,
    }


def to_claim(row: Row) -> ClaimRecord:
    return ClaimRecord(
        namespace=row["namespace"],
        name=row["name"],
        uid=row["uid"],
        owner=to_owner(row),
        storage=row["storage"],
        access_modes=list(row["access_modes"]),
        labels=dict(row["labels"]),
        node_name=row["node_name"],
        volume=row["volume"],
        deletion_timestamp=row["deletion_timestamp"],
        created_at=row["created_at"],
    )
