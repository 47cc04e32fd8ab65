"""Store records as Kubernetes objects: what every GET of the API returns.

Between `app.py` (and watch.py, tables.py) and the read side of the project:
each kind is loaded through its `Listing` (`listings.listing_for`: the loaders
`reconciler get -o json` uses, plus the kinds only a cluster has), so the API,
the CLI and the dashboard show one truth; this module fills in what the API
adds (apiVersion and kind of the served group/version, namespaces, unique event
names, `resourceVersion`, Secrets' data per context) and pages lists.

resourceVersion: the store revision (the `store_revision` row of migration
0009), read before the records (and again after them: `read`), is the list's
resourceVersion and every listed item's. It is bumped by each write transaction
that writes pods or objects, so it is monotonic and a list read after a write
always carries a larger one; clients treat it as opaque, and an object read twice
may show two values with no change in between (the store keeps no per-row counter).
Node, event and claim writes alone do not bump it: a watch (watch.py) keyed on it
must also notice those tables' changes by content.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from reconciler.api.selectors import LabelPredicate
from reconciler.api.types import Key
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.listings import EVENTS_HOME, listing_for, select
from reconciler.kubeapi.resources import Resource
from reconciler.kubeapi.versions import fingerprint, object_key, versions_for
from reconciler.store.reader import ReadStore
from reconciler.views.listings import Query, Row

JSON = dict[str, Any]
_UID_SPACE = uuid.UUID("6f0a55b6-3c1c-4d3f-9a55-6b7a0c3d2e01")


@dataclass(frozen=True)
class Entry:
    """One listed object: its `get` row (the Table cells) and its Kubernetes JSON."""

    row: Row
    obj: JSON


def store_revision(store: ReadStore) -> int:
    """The store revision (see the module docstring); 0 for a store without one."""
    rows = select(store, "SELECT revision FROM store_revision WHERE id = 1")
    return int(rows[0][0] or 0) if rows else 0


def _with_sealer(ctx: ApiContext, store: ReadStore, resource: Resource) -> None:
    """Give the store the Secret key, as `reconciler get` does, when data may be shown."""
    if resource.kind != "Secret" or not ctx.show_secret_data:
        return
    from reconciler.store.secrets import SealError, key_file_for, load_key_file

    try:
        sealer = load_key_file(ctx.key_file or key_file_for(ctx.state))
    except (OSError, SealError):
        return
    store.sealer = sealer


class _Named:
    """A ReadStore narrowed to one name: a get loads one pod, object or node, not the kind.

    Only the calls the listings make for their own kind with a namespace (or, for
    nodes, none) are narrowed; every other call (a node's pods, allocations) passes.
    """

    def __init__(self, store: ReadStore, name: str) -> None:
        self._store, self._name = store, name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._store, attr)

    def list_pods(self, namespace: str | None = None, selector: LabelPredicate | None = None,
                  *, node: str | None = None, owner_uid: str | None = None) -> list[Any]:
        if namespace is None or node is not None or owner_uid is not None:
            return self._store.list_pods(namespace, selector, node=node, owner_uid=owner_uid)
        found = self._store.get_pod(namespace, self._name)
        return [found] if found and (selector is None or selector(found.labels)) else []

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[Any]:
        if kind is None or namespace is None:
            return self._store.objects(kind, namespace)
        found = self._store.get_object(Key(kind, namespace, self._name))
        return [found] if found else []

    def claims(self, namespace: str | None = None) -> list[Any]:
        if namespace is None:
            return self._store.claims(namespace)
        found = self._store.get_claim(namespace, self._name)
        return [found] if found else []

    def list_nodes(self) -> list[Any]:
        found = self._store.get_node(self._name)
        return [found] if found else []


class Read(NamedTuple):
    """What `read` found: the entries, their resourceVersion, and whether the store's
    revision stayed at that version while the rows were read (else they may be newer)."""

    entries: list[Entry]
    rv: str
    settled: bool


def entries(ctx: ApiContext, resource: Resource, namespace: str | None,
            labels: LabelPredicate | None = None, store: ReadStore | None = None,
            name: str | None = None) -> tuple[list[Entry], str]:
    """The objects of `resource` in `namespace` (None: all), or the one named `name` (a
    list of one or none), with the list's resourceVersion; recorded as `read` says."""
    found = read(ctx, resource, namespace, labels, store, name)
    return found.entries, found.rv


def read(ctx: ApiContext, resource: Resource, namespace: str | None,
         labels: LabelPredicate | None = None, store: ReadStore | None = None,
         name: str | None = None, record: bool = True) -> Read:
    """`entries`, and whether they were read at their version.

    The revision is read before and after the rows, which several statements read: a
    commit between would otherwise have its content served (and recorded) as of the
    revision before it, and a write naming that older version would undo it. The read is
    tried again then (READ_TRIES times); still moving, the entries carry the revision
    read first and are forgotten by the writes' precondition (versions.py), so a write
    naming an older version than the one served conflicts.

    Each is recorded as served at its version (versions.py: the precondition of writes)
    unless `record` is False (the watch hub records them from its own fingerprints).
    """
    own = store is None
    st = store if store is not None else ctx.open_store()
    try:
        _with_sealer(ctx, st, resource)
        source = cast(ReadStore, _Named(st, name)) if name is not None else st
        for _ in range(READ_TRIES):
            first = store_revision(st)
            rows = _rows(source, resource, namespace, labels)
            settled = store_revision(st) == first
            if settled:
                break
        rv = str(first)
        out = [Entry(row, normalize(resource, row.build(), rv, row.namespace)) for row in rows]
    finally:
        if own:
            st.close()
    if name is not None:
        out = [e for e in out if e.obj["metadata"].get("name") == name]
    if resource.namespaced and namespace is not None:
        # Events of cluster-scoped objects show in their home namespace only.
        out = [e for e in out if e.obj["metadata"].get("namespace") == namespace]
    if resource.kind not in UNVERSIONED:
        if not settled:
            forget(ctx, resource.kind, [e.obj for e in out])
        elif record:
            observe(ctx, resource.kind, [(e.obj, fingerprint(e.obj)) for e in out], int(rv))
    if resource.kind == "Secret" and not ctx.show_secret_data:
        for e in out:
            e.obj.pop("data", None)
            e.obj.pop("stringData", None)
    return Read(out, rv, settled)


READ_TRIES = 5


# Kinds no manifest declares, never written: nothing to remember for them (events are many).
UNVERSIONED = frozenset({"Event", "ComponentStatus", "Lease", "EndpointSlice"})


def observe(ctx: ApiContext, kind: str, served: list[tuple[JSON, str]], rv: int,
            made_up: bool = False) -> None:
    """Record objects of `kind` (with their fingerprints) as served at store revision `rv`,
    or at a version the watch hub `made_up` (versions.py)."""
    versions = versions_for(ctx.state, ctx.show_secret_data, str(ctx.key_file))
    note = versions.observe_made_up if made_up else versions.observe
    for obj, print_ in served:
        note(object_key(kind, obj), print_, rv)


def forget(ctx: ApiContext, kind: str, served: list[JSON]) -> None:
    """The objects of `kind` were served at no known revision (see `read`)."""
    versions = versions_for(ctx.state, ctx.show_secret_data, str(ctx.key_file))
    for obj in served:
        versions.forget(object_key(kind, obj))


def _rows(store: ReadStore, resource: Resource, namespace: str | None,
          labels: LabelPredicate | None) -> list[Row]:
    listing = listing_for(resource.kind)
    now = datetime.now(UTC)
    if resource.kind == "Event":
        # Listed whole: events of cluster-scoped objects move to their home namespace.
        rows = listing.load(store, Query(None, None, now))
        return [r for r in rows if labels is None or labels({})]
    return listing.load(store, Query(namespace if resource.namespaced else None, labels, now))


def normalize(resource: Resource, obj: JSON, rv: str, namespace: str = "") -> JSON:
    """The object as the API serves it in `resource`'s group/version (mutates `obj`);
    `namespace` is the store's (its key's), which a manifest may have left out."""
    obj["apiVersion"] = resource.group_version
    obj["kind"] = resource.kind
    meta = obj.setdefault("metadata", {})
    if resource.namespaced:
        meta["namespace"] = namespace or meta.get("namespace") or EVENTS_HOME
    else:
        meta.pop("namespace", None)
    if resource.kind == "Event":
        _event_identity(obj)
        involved = obj.get("involvedObject") or {}
        # Events of objects the store gives no uid (nodes) name the uid derived below.
        involved.setdefault("uid", derived_uid(involved.get("kind", ""),
                                               involved.get("namespace", ""),
                                               involved.get("name", "")))
    elif resource.kind == "Node":
        _node_defaults(obj)
    elif resource.kind == "Service":
        _service_defaults(obj.setdefault("spec", {}))
    elif resource.kind == "Namespace":
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    status = obj.get("status")
    if isinstance(status, dict):
        for field in REQUIRED_COUNTS.get(resource.kind, ()):
            status.setdefault(field, 0)
    if not meta.get("uid"):
        meta["uid"] = derived_uid(resource.kind, meta.get("namespace", ""), meta.get("name", ""))
    meta["resourceVersion"] = rv
    return obj


# Status counters the API requires (client models refuse an object without them), 0 until a
# controller has written them.
REQUIRED_COUNTS = {
    "ReplicaSet": ("replicas",), "ReplicationController": ("replicas",),
    "StatefulSet": ("replicas",),
    "DaemonSet": ("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled",
                  "numberReady"),
}
# NodeSystemInfo's fields, all required strings in the API (clients validate them).
NODE_INFO = ("architecture", "bootID", "containerRuntimeVersion", "kernelVersion",
             "kubeProxyVersion", "kubeletVersion", "machineID", "operatingSystem", "osImage",
             "systemUUID")


def _node_defaults(obj: JSON) -> None:
    """Every nodeInfo field (arch and OS from the node's labels); a condition's transition
    time, when the store keeps none, is the node's creation (describe prints year 1 else)."""
    labels = obj["metadata"].get("labels") or {}
    status = obj.setdefault("status", {})
    info = status.setdefault("nodeInfo", {})
    info.setdefault("architecture", labels.get("kubernetes.io/arch", ""))
    info.setdefault("operatingSystem", labels.get("kubernetes.io/os", ""))
    for field in NODE_INFO:
        info.setdefault(field, "")
    for condition in status.get("conditions") or []:
        condition.setdefault("lastTransitionTime", obj["metadata"].get("creationTimestamp"))


def _service_defaults(spec: JSON) -> None:
    """What the API server defaults on a Service (describe service prints them)."""
    if spec.get("type") == "ExternalName":
        return
    ip = spec.get("clusterIP") or ""
    if ip and ip != "None":
        spec.setdefault("clusterIPs", [ip])
    spec.setdefault("ipFamilies", ["IPv6" if ":" in ip else "IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")


def derived_uid(kind: str, namespace: str, name: str) -> str:
    """A stable uid for an object the store keeps none for (nodes, undeclared namespaces)."""
    return str(uuid.uuid5(_UID_SPACE, f"{kind}/{namespace}/{name}"))


def _event_identity(obj: JSON) -> None:
    """A unique, stable name and uid per event (Kubernetes: <object>.<hex>)."""
    involved = obj.get("involvedObject") or {}
    fields = [involved.get("kind"), involved.get("namespace"), involved.get("name"),
              obj.get("type"), obj.get("reason"), obj.get("message"),
              json.dumps(obj.get("source"), sort_keys=True)]
    digest = hashlib.sha256("\0".join(str(f) for f in fields).encode()).hexdigest()
    meta = obj["metadata"]
    meta["name"] = f"{involved.get('name', 'event')}.{digest[:16]}"
    meta["uid"] = str(uuid.UUID(digest[:32]))
    meta.setdefault("creationTimestamp", obj.get("firstTimestamp"))


def list_objects(ctx: ApiContext, resource: Resource, namespace: str | None,
                 labels: LabelPredicate | None = None) -> tuple[list[JSON], str]:
    """The objects of `resource` in `namespace` (None: all) and the list's resourceVersion."""
    found, rv = entries(ctx, resource, namespace, labels)
    return [e.obj for e in found], rv


def get_object(ctx: ApiContext, resource: Resource, namespace: str | None,
               name: str) -> JSON | None:
    """One object by name (namespace ignored for cluster-scoped kinds), or None."""
    found, _ = entries(ctx, resource, namespace if resource.namespaced else None, name=name)
    return found[0].obj if found else None


def scale_of(obj: JSON) -> JSON:
    """The autoscaling/v1 Scale of a Deployment, ReplicaSet, StatefulSet or RC."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    if "matchLabels" in selector or "matchExpressions" in selector:
        from reconciler.api.selectors import from_label_selector

        selector_text = str(from_label_selector(selector))
    else:
        selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector_text},
    }
