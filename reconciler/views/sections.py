"""The pieces every `describe` text is built from: aligned `Key:  value` lines and shared sections.

Part of the read side's presentation (`reconciler.views`): `Describer` aligns
consecutive `Key:  value` lines as kubectl's tabwriter does; the sections
(labels and annotations, pods status, containers with their state, env and
mounts, volumes, events) are shared by `reconciler.views.describe` and the
describers of one kind each (`describe_statefulset`, `describe_daemonset`, ...),
which is why they live here and not in any of them: those modules then import
this one and not each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.api.records import ContainerStatus, EventRecord, PodRecord
from reconciler.api.types import JSON
from reconciler.views import output

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


def meta_section(d: Describer, meta: JSON) -> None:
    """An object's Labels and Annotations lines, as every describer prints them."""
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
    d.multi(0, "Annotations",
            [f"{k}: {v}" for k, v in sorted((meta.get("annotations") or {}).items())])


def pods_status(d: Describer, pods: Sequence[PodRecord]) -> None:
    """kubectl's `Pods Status` line of a controller's pods."""
    phases = [p.phase for p in pods]
    counts = [phases.count(x) for x in ("Running", "Pending", "Succeeded", "Failed")]
    d.pair(0, "Pods Status", "{} Running / {} Waiting / {} Succeeded / {} Failed".format(*counts))


def stale_line(d: Describer, stale: bool, source_file: str) -> None:
    """Ours: the object is the last valid version of a file that now has errors."""
    if stale:
        d.pair(0, "Stale", f"yes: {source_file} has errors; this is the last valid version")


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


def ports_text(spec: JSON) -> str:
    ports = [
        f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []
    ]
    return ", ".join(ports) or output.NONE


def env_section(d: Describer, level: int, spec: JSON) -> None:
    env = spec.get("env") or []
    if not env:
        d.pair(level, "Environment", output.NONE)
        return
    d.line(level, "Environment:")
    for e in env:
        source = e.get("valueFrom") or {}
        if "value" in e:
            d.pair(level + 1, e["name"], e["value"])
        elif "configMapKeyRef" in source or "secretKeyRef" in source:
            # kubectl's words; a Secret's value is never shown.
            kind, ref = (("config map", source["configMapKeyRef"]) if "configMapKeyRef" in source
                         else ("secret", source["secretKeyRef"]))
            optional = f"  Optional: {str(bool(ref.get('optional'))).lower()}"
            d.pair(level + 1, e["name"], f"<set to the key '{ref.get('key', '')}' in {kind} "
                   f"'{ref.get('name', '')}'>{optional}")
        else:
            ref = (e.get("valueFrom") or {}).get("fieldRef") or {}
            d.pair(
                level + 1, e["name"], f" ({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath', '')})"
            )


def containers_section(
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
        d.pair(2, "Port", ports_text(spec))
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
        env_section(d, 2, spec)
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
        elif "configMap" in vol or "secret" in vol or "projected" in vol:
            _config_volume(d, at, vol)
        elif "hostPath" in vol:
            host = vol["hostPath"] or {}
            d.pair(at, "Type", "HostPath (bare host directory volume)")
            d.pair(at, "Path", host.get("path", ""))
            d.pair(at, "HostPathType", host.get("type", ""))
        else:
            empty = vol.get("emptyDir") or {}
            d.pair(at, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)")
            d.pair(at, "Medium", empty.get("medium", ""))
            d.pair(at, "SizeLimit", empty.get("sizeLimit", UNSET))


def _config_volume(d: Describer, at: int, vol: JSON) -> None:
    """kubectl's lines for configMap, secret and projected volumes."""
    if "configMap" in vol:
        d.pair(at, "Type", "ConfigMap (a volume populated by a ConfigMap)")
        d.pair(at, "Name", (vol["configMap"] or {}).get("name", ""))
        d.pair(at, "Optional", str(bool((vol["configMap"] or {}).get("optional"))).lower())
    elif "secret" in vol:
        d.pair(at, "Type", "Secret (a volume populated by a Secret)")
        d.pair(at, "SecretName", (vol["secret"] or {}).get("secretName", ""))
        d.pair(at, "Optional", str(bool((vol["secret"] or {}).get("optional"))).lower())
    else:
        d.pair(at, "Type", "Projected (a volume that contains injected data from multiple "
                           "sources)")
        for source in (vol["projected"] or {}).get("sources") or []:
            for key, what in (("configMap", "ConfigMapName"), ("secret", "SecretName")):
                if key in source:
                    d.pair(at, what, (source[key] or {}).get("name", ""))
