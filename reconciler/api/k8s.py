"""Records rendered as Kubernetes JSON objects, with Kubernetes' field names.

Pure. Used by `reconciler get -o json|yaml` (and anything else that must speak
Kubernetes' shape, such as a future API endpoint): a `PodRecord` becomes a v1
Pod with metadata/spec/status, a `NodeRecord` a v1 Node, an `EventRecord` a v1
Event, and a recorded desired object gets its metadata (uid, generation,
creationTimestamp) and controller-written status merged in.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from reconciler.api.records import (
    Condition,
    ContainerStatus,
    EventRecord,
    NodeRecord,
    PodRecord,
)
from reconciler.api.types import JSON

# The git commit an object's manifest was applied from, shown as kubectl shows
# deployment.kubernetes.io/revision; folder-sourced objects carry none.
REVISION_ANNOTATION = "reconciler.dev/revision"
FOLDER_REVISION = "folder"


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, as Kubernetes writes metav1.Time (seconds precision)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != {} and v != []}


def container_state(c: ContainerStatus) -> JSON:
    """`state` of a containerStatus: exactly one of waiting, running, terminated."""
    if c.state == "running":
        return {"running": _drop_none({"startedAt": timestamp(c.started_at)})}
    if c.state == "terminated":
        return {
            "terminated": _drop_none(
                {
                    "exitCode": c.exit_code if c.exit_code is not None else 0,
                    "reason": c.reason or None,
                    "message": c.message or None,
                    "startedAt": timestamp(c.started_at),
                    "finishedAt": timestamp(c.finished_at),
                    "containerID": c.container_id or None,
                }
            )
        }
    return {"waiting": _drop_none({"reason": c.reason or None, "message": c.message or None})}


def last_state(c: ContainerStatus) -> JSON:
    """`lastState`: the previous termination, or {} when the container never restarted."""
    if c.last_exit_code is None and not c.last_reason:
        return {}
    return {
        "terminated": _drop_none(
            {
                "exitCode": c.last_exit_code if c.last_exit_code is not None else 0,
                "reason": c.last_reason or None,
                "startedAt": timestamp(c.last_started_at),
                "finishedAt": timestamp(c.last_finished_at),
            }
        )
    }


def container_status(c: ContainerStatus) -> JSON:
    """One entry of status.containerStatuses (or initContainerStatuses)."""
    return {
        "name": c.name,
        "image": c.image,
        "imageID": c.image_id,
        "containerID": c.container_id,
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restart_count,
        "state": container_state(c),
        "lastState": last_state(c),
    }


def pod_to_k8s(pod: PodRecord) -> JSON:
    """A v1 Pod object for a pod record."""
    metadata: JSON = {
        "name": pod.name,
        "namespace": pod.namespace,
        "uid": pod.uid,
        "labels": dict(pod.labels),
        "annotations": dict(pod.annotations),
        "creationTimestamp": timestamp(pod.created_at),
        "deletionTimestamp": timestamp(pod.deletion_timestamp),
    }
    if pod.revision and pod.revision != FOLDER_REVISION:
        metadata["annotations"][REVISION_ANNOTATION] = pod.revision
    if pod.owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": pod.owner.api_version,
                "kind": pod.owner.kind,
                "name": pod.owner.name,
                "uid": pod.owner.uid,
                "controller": pod.owner.controller,
                "blockOwnerDeletion": True,
            }
        ]
    spec = copy.deepcopy(pod.spec)
    if pod.node_name:
        spec["nodeName"] = pod.node_name
    status: JSON = {
        "phase": pod.phase,
        "reason": pod.reason or None,
        "message": pod.message or None,
        "hostIP": pod.host_ip or None,
        "podIP": pod.pod_ip or None,
        "podIPs": [{"ip": pod.pod_ip}] if pod.pod_ip else None,
        "startTime": timestamp(pod.start_time),
        "conditions": [condition_to_k8s(c) for c in pod.conditions],
        "initContainerStatuses": [container_status(c) for c in pod.init_containers],
        "containerStatuses": [container_status(c) for c in pod.containers],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _drop_none(metadata),
        "spec": spec,
        "status": _drop_none(status),
    }


def condition_to_k8s(c: Condition) -> JSON:
    """A pod's or node's condition in v1's shape."""
    return _drop_none(
        {
            "type": c.type,
            "status": "True" if c.status else "False",
            "reason": c.reason or None,
            "message": c.message or None,
            "lastTransitionTime": timestamp(c.last_transition),
        }
    )


def node_to_k8s(node: NodeRecord, api_version: str = "v1") -> JSON:
    """A Node object in v1's shape (status.conditions, capacity, nodeInfo, addresses)."""
    alloc = node.allocatable
    capacity = {"cpu": f"{node.capacity.cpu_milli}m", "memory": f"{node.capacity.memory}",
                "pods": str(node.max_pods)}
    heartbeat = timestamp(node.last_heartbeat)
    unknown = node.reason == "NodeStatusUnknown"
    ready = "True" if node.ready else "Unknown" if unknown else "False"
    spec: JSON = {"unschedulable": True} if node.unschedulable else {}
    if node.engine_url:
        spec["engineURL"] = node.engine_url
    if node.taints:
        spec["taints"] = [dict(t) for t in node.taints]
    return {
        "apiVersion": api_version,
        "kind": "Node",
        "metadata": _drop_none(
            {
                "name": node.name,
                "labels": dict(node.labels),
                "creationTimestamp": timestamp(node.created_at),
            }
        ),
        "spec": spec,
        "status": _drop_none(
            {
                "capacity": capacity,
                "allocatable": {"cpu": f"{alloc.cpu_milli}m", "memory": f"{alloc.memory}",
                                "pods": str(node.allocatable_pods)},
                "conditions": [
                    _drop_none(
                        {
                            "type": "Ready",
                            "status": ready,
                            "reason": node.reason or None,
                            "message": node.message or None,
                            "lastHeartbeatTime": heartbeat,
                        }
                    )
                ]
                + [condition_to_k8s(c) for c in node.conditions],
                "addresses": [{"type": "InternalIP", "address": node.address}]
                if node.address
                else None,
                "nodeInfo": {
                    "containerRuntimeVersion": f"docker://{node.engine_version}"
                    if node.engine_version
                    else "",
                    "osImage": node.os_image,
                    "kernelVersion": node.kernel_version,
                },
            }
        ),
    }


def event_to_k8s(ev: EventRecord) -> JSON:
    """A v1 Event (involvedObject, reason, message, source, count, first/lastTimestamp)."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{ev.name}.{ev.reason.lower()}", "namespace": ev.namespace},
        "involvedObject": _drop_none(
            {
                "kind": ev.kind,
                "name": ev.name,
                "namespace": ev.namespace or None,
                "uid": ev.uid or None,
            }
        ),
        "type": ev.type,
        "reason": ev.reason,
        "message": ev.message,
        "source": _drop_none({"component": ev.source, "host": ev.host or None}),
        "count": ev.count,
        "firstTimestamp": timestamp(ev.first_seen),
        "lastTimestamp": timestamp(ev.last_seen),
    }


def object_to_k8s(
    body: JSON,
    *,
    uid: str,
    created_at: datetime,
    generation: int,
    status: JSON | None,
) -> JSON:
    """A recorded desired object with its server-side metadata and status filled in."""
    out = copy.deepcopy(body)
    metadata = out.setdefault("metadata", {})
    metadata["uid"] = uid
    metadata["generation"] = generation
    metadata["creationTimestamp"] = timestamp(created_at)
    if status is not None:
        out["status"] = copy.deepcopy(status)
    return out


def endpoints_to_k8s(
    namespace: str, name: str, subsets: list[JSON], created_at: datetime | None
) -> JSON:
    """A v1 Endpoints object."""
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": _drop_none(
            {"name": name, "namespace": namespace, "creationTimestamp": timestamp(created_at)}
        ),
        "subsets": copy.deepcopy(subsets),
    }


def as_list(items: list[JSON]) -> JSON:
    """Kubernetes' `List` wrapper, as `kubectl get -o json` prints several objects."""
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
