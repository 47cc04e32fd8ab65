"""`reconciler describe pod|rc|rs|sts|svc|node NAME`: kubectl's describe layout, from the store.

Part of the CLI read side. Text is built with `Describer`, which aligns
consecutive `Key:  value` lines as kubectl's tabwriter does, and ends with the
object's events (Type Reason Age From Message; "3m (x4 over 10m)" for repeats).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import click

from reconciler.api.records import ContainerStatus, EventRecord, PodRecord
from reconciler.api.types import JSON, KIND_ALIASES, Key
from reconciler.cli import output
from reconciler.cli.get import open_store
from reconciler.cli.listings import LISTINGS, service_spec
from reconciler.cli.options import state_option
from reconciler.store.reader import ReadStore

UNSET = "<unset>"


class Describer:
    """Lines of `Key:  value` at indent levels; consecutive pairs share one alignment."""

    def __init__(self) -> None:
        self.blocks: list[list[tuple[str, str] | str]] = [[]]

    def pair(self, level: int, key: str, value: object = "") -> None:
        self.blocks[-1].append(("  " * level + (f"{key}:" if key else ""), str(value)))

    def line(self, level: int, text: str) -> None:
        self.blocks[-1].append("  " * level + text)

    def multi(self, level: int, key: str, values: Sequence[str]) -> None:
        """A key whose values go one per line, as Labels and Annotations."""
        if not values:
            self.pair(level, key, output.NONE)
        for i, v in enumerate(values):
            self.pair(level, key if i == 0 else "", v)

    def table(self, level: int, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        underline = ["-" * len(h) for h in headers]
        text = output.table(headers, [underline, *rows])
        for row in text.splitlines():
            self.line(level, row)

    def render(self) -> str:
        out: list[str] = []
        block: list[tuple[str, str]] = []

        def flush() -> None:
            width = max((len(k) for k, _ in block), default=0) + 2
            out.extend((k.ljust(width) + v).rstrip() for k, v in block)
            block.clear()

        for item in self.blocks[-1]:
            if isinstance(item, tuple):
                block.append(item)
            else:
                flush()
                out.append(item.rstrip())
        flush()
        return "\n".join(out)


def when(value: datetime | None) -> str:
    """kubectl's describe time: `Sun, 10 Dec 2017 21:23:53 +0800`, local time."""
    if value is None:
        return output.NONE
    return value.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


def events_section(d: Describer, events: list[EventRecord], now: datetime) -> None:
    if not events:
        d.pair(0, "Events", output.NONE)
        return
    d.line(0, "Events:")
    rows = []
    for ev in events:
        seen = output.age(ev.last_seen, now)
        if ev.count > 1:
            seen = f"{seen} (x{ev.count} over {output.age(ev.first_seen, now)})"
        source = ev.source + (f", {ev.host}" if ev.host else "")
        rows.append([ev.type, ev.reason, seen, source, ev.message])
    d.table(1, ("Type", "Reason", "Age", "From", "Message"), rows)


def _state(d: Describer, level: int, key: str, c: ContainerStatus, last: bool) -> None:
    if last:
        if c.last_exit_code is None and not c.last_reason:
            return
        d.pair(level, key, "Terminated")
        d.pair(level + 1, "Reason", c.last_reason or output.NONE)
        d.pair(level + 1, "Exit Code", c.last_exit_code if c.last_exit_code is not None else 0)
        d.pair(level + 1, "Started", when(c.last_started_at))
        d.pair(level + 1, "Finished", when(c.last_finished_at))
        return
    d.pair(level, key, c.state.capitalize())
    if c.state == "running":
        d.pair(level + 1, "Started", when(c.started_at))
    elif c.state == "terminated":
        d.pair(level + 1, "Reason", c.reason or output.NONE)
        d.pair(level + 1, "Exit Code", c.exit_code if c.exit_code is not None else 0)
        d.pair(level + 1, "Started", when(c.started_at))
        d.pair(level + 1, "Finished", when(c.finished_at))
    elif c.reason:
        d.pair(level + 1, "Reason", c.reason)


def _ports(spec: JSON) -> str:
    ports = [
        f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []
    ]
    return ", ".join(ports) or output.NONE


def _env(d: Describer, level: int, spec: JSON) -> None:
    env = spec.get("env") or []
    if not env:
        d.pair(level, "Environment", output.NONE)
        return
    d.line(level, "Environment:")
    for e in env:
        if "value" in e:
            d.pair(level + 1, e["name"], e["value"])
        else:
            ref = (e.get("valueFrom") or {}).get("fieldRef") or {}
            d.pair(
                level + 1, e["name"], f" ({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath', '')})"
            )


def _containers(
    d: Describer, title: str, specs: list[JSON], statuses: list[ContainerStatus]
) -> None:
    if not specs:
        return
    d.line(0, f"{title}:")
    by_name = {c.name: c for c in statuses}
    for spec in specs:
        c = by_name.get(spec.get("name", ""))
        d.line(1, f"{spec.get('name')}:")
        # The runtime records "docker://<id>" already, as Kubernetes' containerID does.
        cid = c.container_id if c else ""
        d.pair(2, "Container ID", cid if "://" in cid or not cid else f"docker://{cid}")
        d.pair(2, "Image", spec.get("image", ""))
        d.pair(2, "Image ID", c.image_id if c else "")
        d.pair(2, "Port", _ports(spec))
        if spec.get("command"):
            d.pair(2, "Command", " ".join(spec["command"]))
        if spec.get("args"):
            d.pair(2, "Args", " ".join(spec["args"]))
        if c is not None:
            _state(d, 2, "State", c, last=False)
            _state(d, 2, "Last State", c, last=True)
            d.pair(2, "Ready", str(c.ready))
            d.pair(2, "Restart Count", c.restart_count)
        else:
            d.pair(2, "State", "Waiting")
            d.pair(3, "Reason", "ContainerCreating")
            d.pair(2, "Ready", "False")
            d.pair(2, "Restart Count", 0)
        _env(d, 2, spec)
        mounts_section(d, 2, spec)


def mounts_section(d: Describer, level: int, spec: JSON) -> None:
    """A container's Mounts, as kubectl prints them: `PATH from VOLUME (rw|ro)`."""
    mounts = spec.get("volumeMounts") or []
    if not mounts:
        d.pair(level, "Mounts", output.NONE)
        return
    d.line(level, "Mounts:")
    for m in mounts:
        mode = "ro" if m.get("readOnly") else "rw"
        d.line(level + 1, f"{m.get('mountPath')} from {m.get('name')} ({mode})")


def volumes_section(d: Describer, level: int, volumes: list[JSON]) -> None:
    """kubectl's Volumes section for the sources we run: claims, emptyDir, hostPath."""
    if not volumes:
        d.pair(level, "Volumes", output.NONE)
        return
    d.line(level, "Volumes:")
    for vol in volumes:
        d.line(level + 1, f"{vol.get('name')}:")
        at = level + 2
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"] or {}
            d.pair(at, "Type", "PersistentVolumeClaim (a reference to a PersistentVolumeClaim "
                               "in the same namespace)")
            d.pair(at, "ClaimName", claim.get("claimName", ""))
            d.pair(at, "ReadOnly", str(bool(claim.get("readOnly", False))).lower())
        elif "hostPath" in vol:
            host = vol["hostPath"] or {}
            d.pair(at, "Type", "HostPath (bare host directory volume)")
            d.pair(at, "Path", host.get("path", ""))
            d.pair(at, "HostPathType", host.get("type", ""))
        else:
            empty = vol.get("emptyDir") or {}
            d.pair(at, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)")
            d.pair(at, "Medium", empty.get("medium", ""))
            d.pair(at, "SizeLimit", empty.get("sizeLimit", "<unset>"))


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
    _containers(d, "Init Containers", pod.spec.get("initContainers") or [], pod.init_containers)
    _containers(d, "Containers", pod.spec.get("containers") or [], pod.containers)
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
    from reconciler.api.selectors import from_label_selector, from_map

    spec = o.body.get("spec") or {}
    raw = spec.get("selector") or {}
    if "matchLabels" in raw or "matchExpressions" in raw:
        selector = from_label_selector(raw)
    else:
        selector = from_map(raw)
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
        d.pair(3, "Port", _ports(c))
        _env(d, 3, c)
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
    for title, res in (("Capacity", n.capacity), ("Allocatable", n.allocatable)):
        d.line(0, f"{title}:")
        d.pair(1, "cpu", f"{res.cpu_milli}m")
        d.pair(1, "memory", f"{res.memory // 1024}Ki")
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


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("resource")
@click.argument("name", required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@state_option
def describe(resource: str, name: str | None, namespace: str, state: str) -> None:
    """Show one pod, rc, rs, sts, svc or node in detail, with its events."""
    if "/" in resource and name is None:
        resource, name = resource.split("/", 1)
    kind = KIND_ALIASES.get(resource.lower())
    if kind not in ("Pod", "ReplicationController", "ReplicaSet", "StatefulSet", "Service",
                    "Node"):
        raise click.ClickException(f'the server doesn\'t have a resource type "{resource}"')
    if not name:
        raise click.ClickException("describe needs a NAME")
    now = datetime.now(UTC)
    store = open_store(state)
    try:
        text: str | None
        if kind == "Pod":
            pod = store.get_pod(namespace, name)
            text = None if pod is None else describe_pod(store, pod, now)
        elif kind == "Service":
            text = describe_service(store, Key(kind, namespace, name), now)
        elif kind == "Node":
            text = describe_node(store, name, now)
        elif kind == "StatefulSet":
            # Imported here: that module builds on this one's Describer.
            from reconciler.cli.describe_statefulset import describe_statefulset

            text = describe_statefulset(store, Key(kind, namespace, name), now)
        else:
            text = describe_replicated(store, Key(kind, namespace, name), now)
    finally:
        store.close()
    if text is None:
        resource_name = LISTINGS[kind].resource
        click.echo(f'Error from server (NotFound): {resource_name} "{name}" not found', err=True)
        raise SystemExit(1)
    click.echo(text)
