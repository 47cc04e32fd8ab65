"""How the read side prints: kubectl's tables, ages, cells, and -o json|yaml|name.

Used by `reconciler.views` (listings, describe) for `reconciler get`, `describe`
and the dashboard. Pure functions over records and Kubernetes-shaped dicts; the
cell rules follow kubectl's printers (pkg/printers/internalversion/printers.go):
the pod STATUS reason, READY counts, service PORT(S), the endpoints list with
"+ N more...", node STATUS, and ages as `duration.HumanDuration` writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.types import JSON

NONE = "<none>"
# kubectl's tabwriter pads every column but the last with three spaces.
PADDING = 3


def human_duration(d: timedelta) -> str:
    """kubectl's HumanDuration: 5s, 119s, 3m20s, 12m, 150m, 4h30m, 10h, 3d4h, 20d, 2y30d."""
    seconds = int(d.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def age(then: datetime | None, now: datetime | None = None) -> str:
    """The age of a timestamp as kubectl prints it; `<unknown>` when there is none."""
    if then is None:
        return "<unknown>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return human_duration((now or datetime.now(UTC)) - then)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated as kubectl's tabwriter does, without a final newline."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    last = len(headers) - 1
    lines = []
    for row in [list(headers), *rows]:
        cells = [c if i == last else c.ljust(widths[i] + PADDING) for i, c in enumerate(row)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def pod_ready(pod: PodRecord) -> str:
    """READY: ready containers / containers of the spec."""
    total = len(pod.spec.get("containers") or []) or len(pod.containers)
    ready = sum(1 for c in pod.containers if c.ready and c.state == "running")
    return f"{ready}/{total}"


def pod_status(pod: PodRecord) -> str:
    """STATUS as kubectl computes it from phase, reason and the container states."""
    reason = pod.reason or pod.phase
    initializing = False
    n_init = len(pod.spec.get("initContainers") or []) or len(pod.init_containers)
    for i, c in enumerate(pod.init_containers):
        if c.state == "terminated" and c.exit_code == 0:
            continue
        if c.state == "terminated":
            reason = f"Init:{c.reason}" if c.reason else f"Init:ExitCode:{c.exit_code}"
        elif c.state == "waiting" and c.reason and c.reason != "PodInitializing":
            reason = f"Init:{c.reason}"
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for c in reversed(pod.containers):
            if c.state in ("waiting", "terminated") and c.reason:
                reason = c.reason
            elif c.state == "terminated":
                reason = f"ExitCode:{c.exit_code}"
            elif c.state == "running" and c.ready:
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if pod.ready else "NotReady"
    if pod.deletion_timestamp is not None:
        reason = "Unknown" if pod.reason == "NodeLost" else "Terminating"
    return reason


def service_ports(spec: JSON) -> str:
    """PORT(S): `80:30080/TCP,6379/TCP`, `<none>` without ports."""
    out = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        if p.get("nodePort"):
            out.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            out.append(f"{p.get('port')}/{proto}")
    return ",".join(out) or NONE


def service_external_ip(spec: JSON) -> str:
    """EXTERNAL-IP: externalIPs, the ExternalName, `<pending>` for LoadBalancer, else `<none>`."""
    kind = spec.get("type", "ClusterIP")
    ips = list(spec.get("externalIPs") or [])
    if kind == "ExternalName":
        return str(spec.get("externalName", NONE))
    if kind == "LoadBalancer":
        return ",".join(ips) if ips else "<pending>"
    return ",".join(ips) if ips else NONE


def format_endpoints(subsets: Sequence[JSON], limit: int = 3) -> str:
    """ENDPOINTS: `10.0.0.3:5000,10.0.0.4:5000 + 2 more...`, `<none>` when empty."""
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        pairs = (
            [(ip, None) for ip in addresses]
            if not ports
            else [(ip, p.get("port")) for p in ports for ip in addresses]
        )
        for ip, port in pairs:
            if len(shown) < limit:
                host = f"[{ip}]" if ":" in ip else ip
                shown.append(ip if port is None else f"{host}:{port}")
            count += 1
    if not shown:
        return NONE
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if count > limit else text


def node_status(node: NodeRecord) -> str:
    """STATUS: Ready, NotReady or Unknown, plus `,SchedulingDisabled` when cordoned."""
    if node.ready:
        status = "Ready"
    elif node.reason == "NodeStatusUnknown" and node.last_heartbeat is None:
        status = "Unknown"
    else:
        status = "NotReady"
    return status + (",SchedulingDisabled" if node.unschedulable else "")


def labels_text(labels: dict[str, str], sep: str = ",") -> str:
    """`a=b,c=d` sorted, or `<none>`."""
    return sep.join(f"{k}={v}" for k, v in sorted(labels.items())) or NONE


def dump(value: Any, mode: str) -> str:
    """One object or List as `-o json` (indented like kubectl) or `-o yaml`."""
    if mode == "json":
        return json.dumps(value, indent=4, ensure_ascii=False)
    import yaml  # only -o yaml pays for it

    return str(yaml.safe_dump(value, sort_keys=False, default_flow_style=False)).rstrip("\n")
