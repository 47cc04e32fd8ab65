"""Store records as Kubernetes objects: what every GET of the API returns.

Between `app.py` (and watch.py, tables.py) and the read side of the project:
each kind is loaded through its `Listing` of `reconciler.views.listings`, the
same loader `reconciler get -o json` uses, so the API, the CLI and the
dashboard show one truth; this module fills in what the API adds (apiVersion
and kind of the served group/version, namespace defaults, unique event names,
`resourceVersion`, Secrets' data per context) and pages lists.

resourceVersion: the store revision (the `store_revision` row of migration
0009), read before the records, is the list's resourceVersion and every listed
item's. It is bumped by each write transaction that writes pods or objects, so
it is monotonic and a list read after a write always carries a larger one;
clients treat it as opaque, and an object read twice may show two values with no
change in between (the store keeps no per-row counter). Node, event and claim
writes alone do not bump it: a watch (watch.py) keyed on it must also notice
those tables' changes by content.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.resources import Resource
from reconciler.store.reader import ReadStore
from reconciler.views.listings import LISTINGS, Query, Row

JSON = dict[str, Any]
LabelPredicate = Callable[[dict[str, str]], bool]
# Where Kubernetes files events of cluster-scoped objects (nodes): kubectl looks there.
EVENTS_HOME = "default"
_UID_SPACE = uuid.UUID("6f0a55b6-3c1c-4d3f-9a55-6b7a0c3d2e01")


@dataclass(frozen=True)
class Entry:
    """One listed object: its `get` row (the Table cells) and its Kubernetes JSON."""

    row: Row
    obj: JSON


def store_revision(store: ReadStore) -> int:
    """The store revision (see the module docstring); 0 for a store without one."""
    db = getattr(store, "db", None)
    if isinstance(db, sqlite3.Connection):
        row = db.execute("SELECT revision FROM store_revision WHERE id = 1").fetchone()
        return int(row[0]) if row else 0
    from sqlalchemy import text

    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        value = conn.execute(text("SELECT revision FROM store_revision WHERE id = 1")).scalar()
    return int(value or 0)


def _with_sealer(ctx: ApiContext, store: ReadStore, resource: Resource) -> None:
    """Give the store the Secret key, as `reconciler get` does, when data may be shown."""
    if resource.kind != "Secret" or not ctx.show_secret_data:
        return
    from reconciler.store.secrets import SealError, key_file_for, load_key_file

    try:
        sealer = load_key_file(ctx.key_file or key_file_for(ctx.state))
    except (OSError, SealError):
        return
    setattr(store, "sealer", sealer)  # noqa: B010 (ReadStore has no such field)


def entries(ctx: ApiContext, resource: Resource, namespace: str | None,
            labels: LabelPredicate | None = None,
            store: ReadStore | None = None) -> tuple[list[Entry], str]:
    """Every object of `resource` in `namespace` (None: all), with the list's resourceVersion."""
    own = store is None
    st = store if store is not None else ctx.open_store()
    try:
        rv = str(store_revision(st))
        _with_sealer(ctx, st, resource)
        out = [Entry(row, normalize(resource, row.build(), rv))
               for row in _rows(st, resource, namespace, labels)]
    finally:
        if own:
            st.close()
    if resource.namespaced and namespace is not None:
        # Events of cluster-scoped objects show in their home namespace only.
        out = [e for e in out if e.obj["metadata"].get("namespace") == namespace]
    if resource.kind == "Secret" and not ctx.show_secret_data:
        for e in out:
            e.obj.pop("data", None)
            e.obj.pop("stringData", None)
    return out, rv


def _rows(store: ReadStore, resource: Resource, namespace: str | None,
          labels: LabelPredicate | None) -> list[Row]:
    listing = LISTINGS[resource.kind]
    now = datetime.now(UTC)
    if resource.kind == "Namespace":
        return _namespaces(store, now, labels)
    if resource.kind == "Event":
        rows = listing.load(store, Query(None, None, now))
        return [r for r in rows if labels is None or labels({})]
    return listing.load(store, Query(namespace if resource.namespaced else None, labels, now))


def _namespaces(store: ReadStore, now: datetime, labels: LabelPredicate | None) -> list[Row]:
    """Declared namespaces plus every one in use and "default", as a cluster always has."""
    declared = {r.name: r for r in LISTINGS["Namespace"].load(store, Query(None, None, now))}
    used = {o.key.namespace for o in store.objects() if o.key.namespace}
    used |= {p.namespace for p in store.list_pods()} | {EVENTS_HOME}
    rows = list(declared.values())
    for name in sorted(used - set(declared)):
        def build(name: str = name) -> JSON:
            return {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "uid": str(uuid.uuid5(_UID_SPACE, name))}}
        rows.append(Row("", name, ["<unknown>"], build))  # AGE: in use, never declared
    rows.sort(key=lambda r: r.name)
    if labels is not None:
        rows = [r for r in rows if labels((r.build().get("metadata") or {}).get("labels") or {})]
    return rows


def normalize(resource: Resource, obj: JSON, rv: str) -> JSON:
    """The object as the API serves it in `resource`'s group/version (mutates `obj`)."""
    obj["apiVersion"] = resource.group_version
    obj["kind"] = resource.kind
    meta = obj.setdefault("metadata", {})
    if resource.namespaced:
        meta["namespace"] = meta.get("namespace") or EVENTS_HOME
    else:
        meta.pop("namespace", None)
    if resource.kind == "Event":
        _event_identity(obj)
    elif resource.kind == "Namespace":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
    meta.setdefault("uid", str(uuid.uuid5(_UID_SPACE, f"{resource.kind}/"
                                          f"{meta.get('namespace', '')}/{meta.get('name')}")))
    meta["resourceVersion"] = rv
    return obj


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
    found, _ = entries(ctx, resource, namespace if resource.namespaced else None)
    return next((e.obj for e in found if e.obj["metadata"].get("name") == name), None)


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


def paginate(items: list[Any], limit: int, token: str, rv: str) -> tuple[list[Any], str, int]:
    """One page of `items` after `token`: (page, next token or "", how many remain after it).

    The token carries the position (an index into the list, whose order is the
    store's) and the resourceVersion of the first page, base64 JSON as Kubernetes'
    tokens are opaque text; a stale token simply continues at that position.
    """
    start = 0
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"invalid continue token: {exc}") from None
    if limit <= 0:
        return items[start:], "", 0
    page = items[start:start + limit]
    end = start + len(page)
    if end >= len(items):
        return page, "", 0
    nxt = base64.urlsafe_b64encode(json.dumps({"start": end, "rv": rv}).encode()).decode()
    return page, nxt, len(items) - end
