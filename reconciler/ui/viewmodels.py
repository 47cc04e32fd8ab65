"""The dashboard's view models: plain records and Kubernetes JSON in, rows for templates out.

Pure functions, called by `reconciler.ui.pages` after it has read the store;
the templates under `reconciler/ui/templates` only lay these rows out. Kept
free of the store and of Starlette so that unit tests feed them records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from reconciler.api.quantity import pod_requests
from reconciler.api.records import EventRecord, NodeRecord, PodRecord
from reconciler.api.types import JSON

PHASES = ("Running", "Pending", "Succeeded", "Failed", "Unknown")
# Pages the navigation offers, in its order: URL segment -> (kind, title).
PAGES: dict[str, tuple[str, str]] = {
    "pods": ("Pod", "Pods"),
    "deployments": ("Deployment", "Deployments"),
    "replicationcontrollers": ("ReplicationController", "Replication controllers"),
    "replicasets": ("ReplicaSet", "Replica sets"),
    "statefulsets": ("StatefulSet", "Stateful sets"),
    "daemonsets": ("DaemonSet", "Daemon sets"),
    "jobs": ("Job", "Jobs"),
    "persistentvolumeclaims": ("PersistentVolumeClaim", "Volume claims"),
    "services": ("Service", "Services"),
    "endpoints": ("Endpoints", "Endpoints"),
    "nodes": ("Node", "Nodes"),
    "events": ("Event", "Events"),
}
KIND_PAGE = {kind: segment for segment, (kind, _) in PAGES.items()}
# Never listed, described or served, whatever the store holds.
HIDDEN_KINDS = frozenset({"Secret"})


def href(kind: str, namespace: str, name: str) -> str:
    """The detail page of an object; names are quoted, never trusted as path text."""
    segment = KIND_PAGE.get(kind, kind.lower() + "s")
    parts = [segment] + ([namespace] if namespace else []) + [name]
    return "/" + "/".join(quote(p, safe="") for p in parts)


@dataclass(frozen=True)
class Bar:
    """One resource of a node: what its pods request against what it can allocate."""

    used: int
    total: int
    text: str

    @property
    def percent(self) -> int:
        if self.total <= 0:
            return 0
        return min(100, round(100 * self.used / self.total))


@dataclass(frozen=True)
class NodeCard:
    """A node on the overview: Ready state, capacity and allocation, pod count."""

    name: str
    ready: bool
    status: str
    address: str
    cpu: Bar
    memory: Bar
    pods: int
    link: str


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)}Mi"


def node_cards(nodes: Sequence[NodeRecord], pods: Iterable[PodRecord],
               status: dict[str, str]) -> list[NodeCard]:
    """Cards for `nodes`; allocation sums the requests of the non-terminated pods bound there."""
    cpu: dict[str, int] = {}
    mem: dict[str, int] = {}
    count: dict[str, int] = {}
    for p in pods:
        if not p.node_name or p.phase in ("Succeeded", "Failed"):
            continue
        c, m = pod_requests(p.spec)
        cpu[p.node_name] = cpu.get(p.node_name, 0) + c
        mem[p.node_name] = mem.get(p.node_name, 0) + m
        count[p.node_name] = count.get(p.node_name, 0) + 1
    cards = []
    for n in sorted(nodes, key=lambda n: n.name):
        alloc = n.allocatable
        used_cpu, used_mem = cpu.get(n.name, 0), mem.get(n.name, 0)
        cards.append(NodeCard(
            name=n.name,
            ready=n.ready,
            status=status.get(n.name, "Ready" if n.ready else "NotReady"),
            address=n.address,
            cpu=Bar(used_cpu, alloc.cpu_milli, f"{used_cpu}m / {alloc.cpu_milli}m"),
            memory=Bar(used_mem, alloc.memory, f"{_mib(used_mem)} / {_mib(alloc.memory)}"),
            pods=count.get(n.name, 0),
            link=href("Node", "", n.name),
        ))
    return cards


def phase_counts(pods: Iterable[PodRecord]) -> dict[str, int]:
    """Pods by phase, every phase present (zero included) in Kubernetes' order."""
    counts = dict.fromkeys(PHASES, 0)
    for p in pods:
        counts[p.phase if p.phase in counts else "Unknown"] += 1
    return counts


@dataclass(frozen=True)
class ControllerRow:
    """A replication controller or replica set: desired, current and ready replicas."""

    kind: str
    namespace: str
    name: str
    desired: int
    current: int
    ready: int
    link: str

    @property
    def settled(self) -> bool:
        return self.desired == self.current == self.ready


def controller_rows(objects: Iterable[JSON]) -> list[ControllerRow]:
    """Rows from RC/RS objects as `get -o json` prints them (spec.replicas defaults to 1)."""
    rows = []
    for o in objects:
        meta, spec, status = o.get("metadata") or {}, o.get("spec") or {}, o.get("status") or {}
        kind, ns, name = o.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")
        rows.append(ControllerRow(
            kind, ns, name,
            int(spec.get("replicas", 1)),
            int(status.get("replicas", 0)),
            int(status.get("readyReplicas", 0)),
            href(kind, ns, name),
        ))
    return sorted(rows, key=lambda r: (r.namespace, r.kind, r.name))


@dataclass(frozen=True)
class Rollout:
    """A Deployment's rollout: kubectl's status line and updated/available against desired."""

    message: str
    done: bool
    failed: bool
    updated: Bar
    available: Bar


def rollout(message: str, done: bool, failed: bool, obj: JSON) -> Rollout:
    """The progress bars of a Deployment as `get -o json` prints it."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas", 1))
    updated, available = int(status.get("updatedReplicas", 0)), int(
        status.get("availableReplicas", 0))
    return Rollout(message, done, failed,
                   Bar(updated, want, f"{updated} of {want} updated"),
                   Bar(available, want, f"{available} of {want} available"))


def recent_warnings(events: Iterable[EventRecord], limit: int = 10) -> list[EventRecord]:
    """The newest Warning events first, at most `limit`."""
    warnings = [e for e in events if e.type == "Warning"]

    def seen(e: EventRecord) -> float:
        t = e.last_seen or e.first_seen
        return t.timestamp() if t is not None else 0.0

    return sorted(warnings, key=seen, reverse=True)[:limit]


@dataclass(frozen=True)
class Cell:
    """A table cell; `link` makes it an anchor to a detail page."""

    text: str
    link: str = ""


@dataclass
class Table:
    """A list page's table: kubectl's headers and cells, names linked to their pages."""

    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # "namespace/name" per row, for tests and diffs


def table(kind: str, headers: Sequence[str], rows: Iterable[tuple[str, str, list[str]]],
          with_namespace: bool, extra: Sequence[str] = ()) -> Table:
    """A Table from (namespace, name, cells) triples as `reconciler get` computes them."""
    named = kind != "Event"
    out = Table((["NAMESPACE"] if with_namespace else []) + (["NAME"] if named else [])
                + list(headers) + list(extra))
    for ns, name, cells in rows:
        row = [Cell(ns)] if with_namespace else []
        if named:
            row.append(Cell(name, href(kind, ns, name)))
        row.extend(Cell(c) for c in cells)
        out.rows.append(row)
        out.keys.append(f"{ns}/{name}")
    return out


def owner_links(obj: JSON) -> list[Cell]:
    """Links to the controllers named in metadata.ownerReferences."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace", "")
    return [Cell(f"{r.get('kind')}/{r.get('name')}", href(str(r.get("kind")), ns,
                                                            str(r.get("name"))))
            for r in meta.get("ownerReferences") or []]


def namespaces(names: Iterable[str]) -> list[str]:
    """The namespaces to offer in the filter: those seen, sorted, default first."""
    seen = {n for n in names if n}
    seen.add("default")
    return sorted(seen, key=lambda n: (n != "default", n))
