"""`describe` for the kinds with no describer of their own: kubectl's generic layout.

Part of the read side's presentation (`reconciler.views`), reached from
`reconciler.views.describe.describe` for every kind `get` lists but that module
does not lay out itself (Endpoints, PersistentVolumeClaims, Namespaces, Events,
ComponentStatus and the recorded kinds: Ingress, ServiceAccount, ...). As
kubectl's describer for objects it has no printer for (`printUnstructuredContent`),
the object's Kubernetes JSON is printed as nested `Key:  value` lines after its
name, namespace, labels and annotations, followed by its events. Also lists the
names `describe KIND` with no NAME walks through.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.api.selectors import LabelPredicate
from reconciler.api.types import JSON, Key
from reconciler.store.reader import ReadStore
from reconciler.views import output
from reconciler.views.listings import LISTINGS, Query, Row
from reconciler.views.sections import Describer, events_section

# Shown first, or not at all (managedFields-like noise, and what the header already says).
_HEADER_KEYS = ("apiVersion", "kind", "metadata")


def _title(key: str) -> str:
    """`clusterIP` -> `Cluster IP`, as kubectl's generic describer titles field names."""
    out = ""
    for i, ch in enumerate(key):
        if ch.isupper() and i and not key[i - 1].isupper():
            out += " "
        out += ch
    return out[:1].upper() + out[1:]


def _nested(d: Describer, level: int, value: object) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                d.line(level, f"{_title(str(k))}:")
                _nested(d, level + 1, v)
            else:
                d.pair(level, _title(str(k)), _scalar(v))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _nested(d, level, item)
            else:
                d.line(level, _scalar(item))


def _scalar(v: object) -> str:
    if v is None or v == {} or v == []:
        return output.NONE
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def object_name(kind: str, row: Row) -> str:
    """The name `describe` matches: an Event's rows print no name, its JSON has one."""
    if kind != "Event":
        return row.name
    return str((row.build().get("metadata") or {}).get("name", ""))


def rows_of(store: ReadStore, kind: str, namespace: str | None, now: datetime,
            selector: LabelPredicate | None = None) -> list[Row]:
    """The objects of a kind as `get` finds them (namespace None: every namespace)."""
    listing = LISTINGS[kind]
    return listing.load(store, Query(namespace if listing.namespaced else None, selector, now))


def describe_generic(store: ReadStore, kind: str, namespace: str, name: str,
                     now: datetime) -> str | None:
    """kubectl's generic describe text of one object, or None when it is not recorded."""
    found = [r for r in rows_of(store, kind, namespace, now) if object_name(kind, r) == name]
    if not found:
        return None
    body = found[0].build()
    meta: JSON = body.get("metadata") or {}
    own_ns = str(meta.get("namespace") or "") if LISTINGS[kind].namespaced else ""
    declared = store.get_object(Key(kind, own_ns, name))
    if declared is not None:
        # Endpoints (and others) built from live state carry no labels; the manifest has them.
        own = declared.body.get("metadata") or {}
        meta = {**meta, "labels": meta.get("labels") or own.get("labels") or {},
                "annotations": meta.get("annotations") or own.get("annotations") or {}}
    d = Describer()
    d.pair(0, "Name", name)
    if LISTINGS[kind].namespaced:
        d.pair(0, "Namespace", meta.get("namespace") or namespace)
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
    d.multi(0, "Annotations",
            [f"{k}: {v}" for k, v in sorted((meta.get("annotations") or {}).items())])
    d.pair(0, "API Version", body.get("apiVersion", "v1"))
    d.pair(0, "Kind", body.get("kind", kind))
    _nested(d, 0, {k: v for k, v in body.items() if k not in _HEADER_KEYS})
    if found[0].stale:
        d.pair(0, "Stale", "yes: its file has errors; this is the last valid version")
    if kind != "Event":
        ns = meta.get("namespace") or ("" if not LISTINGS[kind].namespaced else namespace)
        events_section(d, store.list_events(ns or None, kind, name), now)
    return d.render()
