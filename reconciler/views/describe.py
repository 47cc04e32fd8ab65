"""The text of `reconciler describe KIND NAME`: kubectl's describe layout.

Part of the read side's presentation (`reconciler.views`), shared by the CLI
(`reconciler.cli.describe`) and the dashboard (`reconciler.ui.pages`). Built
with `reconciler.views.sections` and ending with the object's events (Type
Reason Age From Message; "3m (x4 over 10m)" for repeats); StatefulSets and
DaemonSets have their own modules (`reconciler.views.describe_statefulset`,
`describe_daemonset`).
"""

from __future__ import annotations

from datetime import datetime

from reconciler.api.records import PodRecord
from reconciler.api.selectors import from_spec_selector
from reconciler.api.taints import node_taints, taint_text
from reconciler.api.types import Key
from reconciler.store.reader import ReadStore
from reconciler.views import configviews, output
from reconciler.views.cronjobs import describe_cronjob
from reconciler.views.deployments import describe_deployment
from reconciler.views.describe_daemonset import describe_daemonset
from reconciler.views.describe_generic import describe_generic
from reconciler.views.describe_statefulset import describe_statefulset
from reconciler.views.jobs import describe_job
from reconciler.views.listings import service_spec
from reconciler.views.sections import (
    UNSET,
    Describer,
    containers_section,
    env_section,
    events_section,
    ports_text,
    volumes_section,
    when,
)

# The kinds laid out here or in their own module; every other kind `get` lists is described
# by `reconciler.views.describe_generic`.
KINDS = ("Pod", "ReplicationController", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet",
         "Service", "Node", "ConfigMap", "Secret", "Job", "CronJob")


def describe(store: ReadStore, kind: str, namespace: str, name: str, now: datetime) -> str | None:
    """The describe text of one object of a kind in KINDS, or None when it is not recorded."""
    if kind == "Pod":
        pod = store.get_pod(namespace, name)
        return None if pod is None else describe_pod(store, pod, now)
    if kind == "Service":
        return describe_service(store, Key(kind, namespace, name), now)
    if kind == "Node":
        return describe_node(store, name, now)
    if kind == "StatefulSet":
        return describe_statefulset(store, Key(kind, namespace, name), now)
    if kind == "Deployment":
        return describe_deployment(store, Key(kind, namespace, name), now)
    if kind == "DaemonSet":
        return describe_daemonset(store, Key(kind, namespace, name), now)
    if kind == "Job":
        return describe_job(store, Key(kind, namespace, name), now)
    if kind == "CronJob":
        return describe_cronjob(store, Key(kind, namespace, name), now)
    if kind in ("ConfigMap", "Secret"):
        obj = store.get_object(Key(kind, namespace, name))
        if obj is None:
            return None
        text = configviews.describe_secret(obj) if kind == "Secret" else \
            configviews.describe_configmap(obj)
        d = Describer()
        events_section(d, store.list_events(namespace, kind, name), now)
        return text + "\n" + d.render()
    if kind in ("ReplicationController", "ReplicaSet"):
        return describe_replicated(store, Key(kind, namespace, name), now)
    # Every other kind `get` lists (Endpoints, PVCs, Namespaces, Ingresses, ...).
    return describe_generic(store, kind, namespace, name, now)


def describe_pod(store: ReadStore, pod: PodRecord, now: datetime) -> str:
    d = Describer()
    d.pair(0, "Name", pod.name)
    d.pair(0, "Namespace", pod.namespace)
    node = pod.node_name + (f"/{pod.host_ip}" if pod.host_ip else "")
    d.pair(0, "Node", node or output.NONE)
    d.pair(0, "Start Time", when(pod.start_time))
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted(pod.labels.items())])
    d.multi(0, "Annotations", [f"{k}: {v}" for k, v in sorted(pod.annotations.items())])
    d.pair(0, "Status", output.pod_status(pod) if pod.deletion_timestamp else pod.phase)
    if pod.reason:
        d.pair(0, "Reason", pod.reason)
    if pod.message:
        d.pair(0, "Message", pod.message)
    d.pair(0, "IP", pod.pod_ip)
    if pod.owner is not None:
        d.pair(0, "Controlled By", f"{pod.owner.kind}/{pod.owner.name}")
    containers_section(
        d, "Init Containers", pod.spec.get("initContainers") or [], pod.init_containers
    )
    containers_section(d, "Containers", pod.spec.get("containers") or [], pod.containers)
    d.line(0, "Conditions:")
    d.table(1, ("Type", "Status"), [[c.type, str(c.status)] for c in pod.conditions])
    volumes_section(d, 0, pod.spec.get("volumes") or [])
    selector = pod.spec.get("nodeSelector") or {}
    d.pair(0, "Node-Selectors", output.labels_text(selector, "\n") if selector else output.NONE)
    # As kubectl, by uid too: a pod deleted and declared again under the same name is a
    # new object, and the old one's events (Killing...) are not its own.
    events = [e for e in store.list_events(pod.namespace, "Pod", pod.name)
              if e.uid in ("", pod.uid)]
    events_section(d, events, now)
    return d.render()


def describe_replicated(store: ReadStore, key: Key, now: datetime) -> str | None:
    o = store.get_object(key)
    if o is None:
        return None
    spec = o.body.get("spec") or {}
    selector = from_spec_selector(spec.get("selector"))
    pods = store.list_pods(key.namespace, selector.matches)
    status = o.status or {}
    meta = o.body.get("metadata") or {}
    d = Describer()
    d.pair(0, "Name", key.name)
    d.pair(0, "Namespace", key.namespace)
    d.pair(0, "Selector", str(selector) or output.NONE)
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
    d.multi(
        0, "Annotations", [f"{k}: {v}" for k, v in sorted((meta.get("annotations") or {}).items())]
    )
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):  # a Deployment's ReplicaSet
            d.pair(0, "Controlled By", f"{ref.get('kind')}/{ref.get('name')}")
    d.pair(
        0, "Replicas", f"{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired"
    )
    phases = [p.phase for p in pods]
    counts = [phases.count(x) for x in ("Running", "Pending", "Succeeded", "Failed")]
    d.pair(0, "Pods Status", "{} Running / {} Waiting / {} Succeeded / {} Failed".format(*counts))
    if o.stale:
        d.pair(0, "Stale", f"yes: {o.source_file} has errors; this is the last valid version")
    template = spec.get("template") or {}
    d.line(0, "Pod Template:")
    labels = (template.get("metadata") or {}).get("labels") or {}
    d.multi(1, "Labels", [f"{k}={v}" for k, v in sorted(labels.items())])
    d.line(1, "Containers:")
    for c in (template.get("spec") or {}).get("containers") or []:
        d.line(2, f"{c.get('name')}:")
        d.pair(3, "Image", c.get("image", ""))
        d.pair(3, "Port", ports_text(c))
        env_section(d, 3, c)
    events_section(d, store.list_events(key.namespace, key.kind, key.name), now)
    return d.render()


def describe_service(store: ReadStore, key: Key, now: datetime) -> str | None:
    o = store.get_object(key)
    if o is None:
        return None
    spec = service_spec(store, o)
    meta = o.body.get("metadata") or {}
    d = Describer()
    d.pair(0, "Name", key.name)
    d.pair(0, "Namespace", key.namespace)
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
    d.multi(
        0, "Annotations", [f"{k}: {v}" for k, v in sorted((meta.get("annotations") or {}).items())]
    )
    d.pair(0, "Selector", output.labels_text(spec.get("selector") or {}))
    d.pair(0, "Type", spec.get("type", "ClusterIP"))
    d.pair(0, "IP", spec.get("clusterIP") or output.NONE)
    if spec.get("externalIPs"):
        d.pair(0, "External IPs", ",".join(spec["externalIPs"]))
    endpoints = store.get_endpoints(key.namespace, key.name)
    declared = store.get_object(Key("Endpoints", key.namespace, key.name))
    subsets = (
        endpoints.subsets if endpoints else (declared.body.get("subsets") or []) if declared else []
    )
    for p in spec.get("ports") or []:
        name, proto = p.get("name") or UNSET, p.get("protocol", "TCP")
        d.pair(0, "Port", f"{name}  {p.get('port')}/{proto}")
        d.pair(0, "TargetPort", f"{p.get('targetPort', p.get('port'))}/{proto}")
        if p.get("nodePort"):
            d.pair(0, "NodePort", f"{name}  {p['nodePort']}/{proto}")
        mine = [
            {
                **s,
                "ports": [
                    q for q in s.get("ports") or [] if q.get("name", "") == p.get("name", "")
                ],
            }
            for s in subsets
        ]
        d.pair(0, "Endpoints", output.format_endpoints(mine) if subsets else output.NONE)
    d.pair(0, "Session Affinity", spec.get("sessionAffinity", "None"))
    if o.stale:
        d.pair(0, "Stale", f"yes: {o.source_file} has errors; this is the last valid version")
    events_section(d, store.list_events(key.namespace, "Service", key.name), now)
    return d.render()


def describe_node(store: ReadStore, name: str, now: datetime) -> str | None:
    n = store.get_node(name)
    if n is None:
        return None
    d = Describer()
    d.pair(0, "Name", n.name)
    d.pair(0, "Roles", output.NONE)
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted(n.labels.items())])
    d.pair(0, "CreationTimestamp", when(n.created_at))
    d.multi(0, "Taints", [taint_text(t) for t in node_taints(n)])
    d.pair(0, "Unschedulable", str(n.unschedulable).lower())
    d.pair(0, "Engine", n.engine_url)
    d.line(0, "Conditions:")
    status = output.node_status(n).split(",")[0]
    ready = {"Ready": "True", "NotReady": "False"}.get(status, "Unknown")
    d.table(
        1,
        ("Type", "Status", "LastHeartbeatTime", "Reason", "Message"),
        [["Ready", ready, when(n.last_heartbeat), n.reason, n.message]]
        + [[c.type, str(c.status), when(c.last_transition), c.reason, c.message]
           for c in n.conditions],
    )
    d.line(0, "Addresses:")
    d.pair(1, "InternalIP", n.address or output.NONE)
    for title, res, most in (("Capacity", n.capacity, n.max_pods),
                             ("Allocatable", n.allocatable, n.allocatable_pods)):
        d.line(0, f"{title}:")
        d.pair(1, "cpu", f"{res.cpu_milli}m")
        d.pair(1, "memory", f"{res.memory // 1024}Ki")
        d.pair(1, "pods", str(most))
    if n.pod_addresses:
        d.pair(0, "Pod network addresses free", str(n.pod_addresses))
    d.line(0, "System Info:")
    d.pair(1, "Kernel Version", n.kernel_version)
    d.pair(1, "OS Image", n.os_image)
    d.pair(
        1, "Container Runtime Version", f"docker://{n.engine_version}" if n.engine_version else ""
    )
    pods = [p for p in store.list_pods(node=n.name) if p.phase not in ("Succeeded", "Failed")]
    d.pair(0, "Non-terminated Pods", f"({len(pods)} in total)")
    d.table(
        1,
        ("Namespace", "Name", "Age"),
        [[p.namespace, p.name, output.age(p.created_at, now)] for p in pods],
    )
    events_section(d, store.list_events(None, "Node", n.name), now)
    return d.render()
