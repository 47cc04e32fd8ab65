"""A small real SQLite store for the kubeapi unit tests (filled through the Store API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from reconciler.api.records import (
    Condition,
    ContainerStatus,
    EventRecord,
    NodeRecord,
    OwnerRef,
    PodRecord,
)
from reconciler.api.types import DesiredObject, Key, Position
from reconciler.kubeapi.resources import Resource, resource_of_kind
from reconciler.planning.diff import diff
from reconciler.store import Store

Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"tier": "front"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "main", "image": "web:1"}]}}},
}
SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
}
NAMESPACE: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": "team", "labels": {"team": "yes"}}}


def pod(name: str, namespace: str = "default", phase: Phase = "Running",
        node: str = "local", labels: dict[str, str] | None = None) -> PodRecord:
    now = datetime.now(UTC)
    return PodRecord(
        uid=f"uid-{namespace}-{name}", namespace=namespace, name=name,
        spec={"containers": [{"name": "main", "image": "web:1"}]}, spec_hash="s",
        created_at=now - timedelta(minutes=5), labels=labels or {"app": "web"},
        owner=OwnerRef("ReplicaSet", "web-1", "rs-uid", "apps/v1") if namespace == "default"
        else None,
        node_name=node, phase=phase, pod_ip="172.17.0.9", host_ip="127.0.0.1",
        conditions=[Condition("Ready", phase == "Running")],
        containers=[ContainerStatus("main", "web:1", state="running", ready=True,
                                    restart_count=3)],
    )


def fill(path: Path | str) -> str:
    """A store with a Deployment, a Service and its endpoints, namespace team with a
    ConfigMap, 3 pods, a node and 2 events."""
    store = Store.open(str(path))
    objs = [DesiredObject(Key("Deployment", "default", "web"), DEPLOYMENT, Position("w.yaml"),
                          "h1"),
            DesiredObject(Key("Service", "default", "web"), SERVICE, Position("s.yaml"), "h2"),
            DesiredObject(Key("Namespace", "", "team"), NAMESPACE, Position("n.yaml"), "h3"),
            # Its manifest names no namespace: the key's is the one served.
            DesiredObject(Key("ConfigMap", "team", "settings"),
                          {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "settings"}, "data": {"mode": "fast"}},
                          Position("c.yaml"), "h4")]
    store.apply_plan(diff(objs, {}), "folder")
    store.set_status(Key("Deployment", "default", "web"),
                     {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2})
    now = datetime.now(UTC)
    store.upsert_node(NodeRecord("local", "unix:///var/run/docker.sock", now, ready=True,
                                 engine_version="20.10.24", last_heartbeat=now))
    store.upsert_pods([pod("web-a"), pod("web-b", phase="Pending", node=""),
                       pod("talker", "team", labels={"app": "talker"})])
    store.set_endpoints("default", "web", [{
        "addresses": [{"ip": "172.17.0.9", "nodeName": "local",
                       "targetRef": {"kind": "Pod", "name": "web-a", "namespace": "default"}}],
        "notReadyAddresses": [{"ip": "172.17.0.10"}],
        "ports": [{"port": 80, "protocol": "TCP"}]}])
    store.record_event(EventRecord("default", "Pod", "web-a", "Normal", "Started",
                                   "Started container main", "kubelet", uid="uid-default-web-a"))
    store.record_event(EventRecord("", "Node", "local", "Normal", "NodeReady",
                                   "Node local status is now: NodeReady", "node-controller"))
    store.close()
    return str(path)


def res(kind: str) -> Resource:
    """The served resource of `kind` (every kind the tests name is served)."""
    found = resource_of_kind(kind)
    assert found is not None
    return found
