"""Builders of pod and node records for scheduler tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reconciler.api.records import NodeRecord, OwnerRef, PodRecord, Resources

T0 = datetime(2024, 1, 1, tzinfo=UTC)
GI = 1 << 30


def node(name: str, cpu: int = 4000, memory: int = 8 * GI, **kw: Any) -> NodeRecord:
    kw.setdefault("ready", True)
    return NodeRecord(name=name, engine_url=f"tcp://{name}:2375", created_at=T0,
                      capacity=Resources(cpu, memory), **kw)


def pod(name: str, cpu: str | None = None, memory: str | None = None, *, owner: str | None = None,
        node_name: str = "", host_port: int = 0, spec: dict[str, Any] | None = None,
        **kw: Any) -> PodRecord:
    requests: dict[str, str] = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    container: dict[str, Any] = {"name": "c", "image": "busybox",
                                 "resources": {"requests": requests}}
    if host_port:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port, "protocol": "TCP"}]
    full_spec: dict[str, Any] = {"containers": [container], **(spec or {})}
    ref = OwnerRef("ReplicationController", owner, f"uid-{owner}") if owner else None
    return PodRecord(uid=f"uid-{name}", namespace="default", name=name, spec=full_spec,
                     spec_hash="h", created_at=T0, owner=ref, node_name=node_name, **kw)
