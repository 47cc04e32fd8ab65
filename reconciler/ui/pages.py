"""What each dashboard page shows, read from the state store through the shared viewmodels.

Between `reconciler.ui.app` (routes) and the store: `reconciler get`'s
listings (`reconciler.views.listings.LISTINGS`) give the rows and the Kubernetes JSON,
`reconciler describe`'s functions give the detail text, and
`reconciler.ui.viewmodels` turns records into template rows. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.api import k8s
from reconciler.api.records import PodRecord
from reconciler.api.selectors import SelectorError, parse
from reconciler.api.types import JSON, Key
from reconciler.planning.deployment import REVISION
from reconciler.store.opener import open_reader
from reconciler.store.reader import ReadStore
from reconciler.ui import viewmodels
from reconciler.views import deployments, describe, output
from reconciler.views.describe_statefulset import describe_statefulset
from reconciler.views.listings import LISTINGS, Listing, Query, Row

LOG_LINES = 50
# The workload controllers the overview lists with desired / current / ready replicas.
CONTROLLER_KINDS = ("Deployment", "ReplicationController", "ReplicaSet", "StatefulSet")


class NotFound(LookupError):
    """No such resource type, or no such object."""


@contextmanager
def reading(state: str) -> Iterator[ReadStore]:
    """A read-only store for one request; the service may be writing meanwhile."""
    store = open_reader(state)
    try:
        yield store
    finally:
        store.close()


@dataclass(frozen=True)
class Filter:
    """The namespace ("" = all) and label selector a page or API call asked for."""

    namespace: str = ""
    selector: str = ""

    def query(self) -> Query:
        """As `get`'s Query; a bad selector raises SelectorError with parse's message."""
        pred = parse(self.selector).matches if self.selector.strip() else None
        return Query(self.namespace or None, pred, datetime.now(UTC))


def listing(resource: str) -> Listing:
    """The `get` listing behind a URL segment (pods, services, ...), secrets never."""
    for lst in LISTINGS.values():
        if lst.resource == resource and lst.kind not in viewmodels.HIDDEN_KINDS:
            return lst
    raise NotFound(f'the server doesn\'t have a resource type "{resource}"')


def api_list(store: ReadStore, resource: str, f: Filter) -> JSON:
    """What `reconciler get RESOURCE -o json` prints (-A when no namespace is given)."""
    lst = listing(resource)
    return k8s.as_list([r.build() for r in lst.load(store, f.query())])


def _find(store: ReadStore, lst: Listing, namespace: str, name: str) -> Row:
    ns = namespace if lst.namespaced else ""
    rows = lst.load(store, Query(ns or None, None, datetime.now(UTC)))
    for r in rows:
        if r.name == name and (not lst.namespaced or r.namespace == ns):
            return r
    raise NotFound(f'{lst.resource} "{name}" not found')


def api_object(store: ReadStore, resource: str, namespace: str, name: str) -> JSON:
    """What `reconciler get RESOURCE NAME -n NAMESPACE -o json` prints."""
    return _find(store, listing(resource), namespace, name).build()


def list_page(store: ReadStore, resource: str, f: Filter) -> dict[str, Any]:
    """A list page: kubectl's columns (wide ones included), names linked."""
    lst = listing(resource)
    rows = lst.load(store, f.query())
    extra: list[str] = []
    cells = [(r.namespace, r.name, r.cells + r.wide) for r in rows]
    if lst.kind == "Service":
        # The services page shows each one's endpoints beside its cluster IP and ports.
        eps = {(e.namespace, e.name): e.subsets for e in store.list_endpoints(f.namespace or None)}
        extra = ["ENDPOINTS"]
        cells = [(ns, n, [*c, output.format_endpoints(eps.get((ns, n), []))])
                 for ns, n, c in cells]
    headers = [h for h in lst.headers if h != "NAME"] + list(lst.wide)  # viewmodels adds NAME
    table = viewmodels.table(lst.kind, headers, cells, lst.namespaced and not f.namespace, extra)
    return {"resource": resource, "kind": lst.kind, "table": table}


# The newest events the overview looks at for its recent warnings.
OVERVIEW_EVENTS = 1000


def overview(store: ReadStore, f: Filter) -> dict[str, Any]:
    """Nodes with bars, pods by phase, controllers, recent warnings."""
    q = f.query()
    nodes = store.list_nodes()
    all_pods = store.list_pods()
    pods = store.list_pods(q.namespace, q.selector)
    controllers = [_with_namespace(r) for kind in CONTROLLER_KINDS if kind in LISTINGS
                   for r in LISTINGS[kind].load(store, q)]
    # A bounded window, newest first: the overview is polled, and an event storm within
    # the TTL (retention.event_ttl) must not make every refresh read the whole table.
    events = store.list_events(q.namespace, limit=OVERVIEW_EVENTS) + (
        store.list_events("", limit=OVERVIEW_EVENTS) if q.namespace else [])
    return {
        "nodes": viewmodels.node_cards(
            nodes, all_pods, {n.name: output.node_status(n) for n in nodes}
        ),
        "phases": viewmodels.phase_counts(pods),
        "pod_rows": viewmodels.table("Pod", ("READY", "STATUS", "RESTARTS", "NODE"), [
            (p.namespace, p.name, [output.pod_ready(p), output.pod_status(p), str(p.restarts),
                                   p.node_name or output.NONE]) for p in pods
        ], with_namespace=not f.namespace),
        "controllers": viewmodels.controller_rows(controllers),
        "warnings": viewmodels.recent_warnings(events),
        "now": q.now,
    }


def _with_namespace(row: Row) -> JSON:
    # A body recorded without metadata.namespace is still in the row's namespace.
    obj = row.build()
    obj.setdefault("metadata", {}).setdefault("namespace", row.namespace)
    return obj


def known_namespaces(store: ReadStore) -> list[str]:
    return viewmodels.namespaces([o.key.namespace for o in store.objects()]
                            + [p.namespace for p in store.list_pods()])


def _source(store: ReadStore, kind: str, namespace: str, name: str) -> dict[str, Any]:
    o = store.get_object(Key(kind, namespace, name))
    if o is None:
        return {}
    return {"file": o.source_file, "line": o.line, "revision": o.revision,
            "generation": o.generation, "stale": o.stale}


def detail(store: ReadStore, resource: str, namespace: str, name: str,
           logs: bool = True) -> dict[str, Any]:
    """A detail page: describe's text, the manifest's source, owners, events; pods' logs."""
    lst = listing(resource)
    row = _find(store, lst, namespace, name)
    obj = row.build()
    now = datetime.now(UTC)
    ns = namespace if lst.namespaced else ""
    ctx: dict[str, Any] = {
        "resource": resource, "kind": lst.kind, "namespace": ns, "name": name, "object": obj,
        "owners": viewmodels.owner_links(obj), "source": _source(store, lst.kind, ns, name),
        "text": "", "containers": [], "logs": {}, "pods": None, "rollout": None,
        "replica_sets": None,
        "events": store.list_events(ns or None, lst.kind, name),
    }
    if lst.kind == "Pod":
        pod = store.get_pod(ns, name)
        if pod is None:
            raise NotFound(f'pods "{name}" not found')
        ctx["text"] = describe.describe_pod(store, pod, now)
        ctx["events"] = [e for e in ctx["events"] if e.uid in ("", pod.uid)]
        ctx["containers"] = pod.init_containers + pod.containers
        if not ctx["source"] and pod.owner is not None:
            # A replica has no manifest of its own: its template is in its controller's.
            ctx["source"] = {**_source(store, pod.owner.kind, ns, pod.owner.name),
                             "via": f"{pod.owner.kind}/{pod.owner.name}", "generation": 0}
        if pod.revision:
            ctx["source"] = {**ctx["source"], "revision": pod.revision}
        if logs:
            ctx["logs"] = pod_logs(store, pod)
    elif lst.kind in ("ReplicationController", "ReplicaSet"):
        ctx["text"] = describe.describe_replicated(store, Key(lst.kind, ns, name), now) or ""
        ctx["pods"] = _owned_pods(store, obj)
    elif lst.kind == "Service":
        ctx["text"] = describe.describe_service(store, Key(lst.kind, ns, name), now) or ""
    elif lst.kind == "Node":
        ctx["text"] = describe.describe_node(store, name, now) or ""
        ctx["pods"] = viewmodels.table("Pod", ("READY", "STATUS", "RESTARTS"), [
            (p.namespace, p.name, [output.pod_ready(p), output.pod_status(p), str(p.restarts)])
            for p in store.list_pods(node=name)], with_namespace=True)
    elif lst.kind == "StatefulSet":
        ctx["text"] = describe_statefulset(store, Key(lst.kind, ns, name), now) or ""
        ctx["pods"] = _owned_pods(store, obj)
    elif lst.kind in ("DaemonSet", "Job"):
        ctx["text"] = describe.describe(store, lst.kind, ns, name, now) or ""
        ctx["pods"] = _owned_pods(store, obj)
    elif lst.kind == "Deployment":
        ctx.update(deployment_detail(store, Key(lst.kind, ns, name), obj, now))
    else:
        ctx["text"] = output.dump(obj, "yaml")
    return ctx


def deployment_detail(store: ReadStore, key: Key, obj: JSON, now: datetime) -> dict[str, Any]:
    """describe's text, the rollout's progress, the ReplicaSets (new one marked) and their pods."""
    o = store.get_object(key)
    if o is None:
        raise NotFound(f'deployments "{key.name}" not found')
    owned = deployments.replica_sets(store, o)
    new, _ = deployments.split_new_old(o, owned)
    state = deployments.rollout_state(o)
    rows = []
    for rs in reversed(owned):  # newest revision first, as a user reads a rollout
        spec, status = rs.body.get("spec") or {}, rs.status or {}
        rows.append((rs.key.namespace, rs.key.name, [
            deployments.annotations_of(rs).get(REVISION, ""), "new" if rs is new else "old",
            str(spec.get("replicas", 1)), str(status.get("replicas", 0)),
            str(status.get("readyReplicas", 0)), output.age(rs.created_at, now)]))
    pods = [p for rs in owned for p in store.list_pods(owner_uid=rs.uid)]
    return {
        "text": deployments.describe_deployment(store, key, now) or "",
        "rollout": viewmodels.rollout(state.message, state.done, state.failed, obj),
        "replica_sets": viewmodels.table(
            "ReplicaSet", ("REVISION", "ROLE", "DESIRED", "CURRENT", "READY", "AGE"), rows,
            with_namespace=False),
        "pods": _pod_table(pods),
    }


def _owned_pods(store: ReadStore, obj: JSON) -> viewmodels.Table:
    uid = (obj.get("metadata") or {}).get("uid", "")
    return _pod_table(store.list_pods(owner_uid=uid) if uid else [])


def _pod_table(pods: list[PodRecord]) -> viewmodels.Table:
    return viewmodels.table("Pod", ("READY", "STATUS", "RESTARTS", "NODE"), [
        (p.namespace, p.name, [output.pod_ready(p), output.pod_status(p), str(p.restarts),
                               p.node_name or output.NONE]) for p in pods], with_namespace=False)


def pod_logs(store: ReadStore, pod: PodRecord, lines: int = LOG_LINES) -> dict[str, str]:
    """The tail of each app container's log, through the pod's host (as `reconciler logs`)."""
    if not pod.node_name:
        return {}
    node = store.get_node(pod.node_name)
    if node is None:
        return {}
    if not node.ready:
        # Each refresh would wait out the engine timeout on a host that does not answer.
        return {c.name: f"(logs unavailable: node {node.name} is not Ready)"
                for c in pod.containers}
    from reconciler.runtime.access import PodAccess
    from reconciler.runtime.engine import Engine
    from reconciler.runtime.types import RuntimeConfig

    out: dict[str, str] = {}
    engine = Engine(node, RuntimeConfig(api_timeout=5.0))
    try:
        access = PodAccess(engine)
        for c in pod.containers:
            try:
                data = b"".join(access.logs(pod.uid, c.name, tail=lines))
                out[c.name] = data.decode(errors="replace")
            except Exception as exc:  # an unreachable host or a container not created yet
                out[c.name] = f"(logs unavailable: {exc})"
    finally:
        engine.close()
    return out


__all__ = ["Filter", "NotFound", "SelectorError", "api_list", "api_object", "detail",
           "known_namespaces", "list_page", "overview", "reading"]
