"""The kinds only a cluster has, served from what the store knows: Listings beside `get`'s.

Used by `objects.py` (loading) and `tables.py` (columns) through `listing_for`:
`reconciler get`'s Listings (`reconciler.views.listings`) for every kind they
cover, and here what kubectl expects of a cluster besides: every namespace in
use (with "default", which always exists) and Active; each node's heartbeat as
its Lease in kube-node-lease (`kubectl describe node` reads it); each service's
endpoints as discovery.k8s.io EndpointSlices (`kubectl describe service` reads
those, not Endpoints, since 1.30ish).
"""

from __future__ import annotations

import hashlib
import sqlite3
from functools import partial
from typing import Any

from reconciler.api import k8s
from reconciler.api.records import NodeRecord
from reconciler.store.reader import ReadStore
from reconciler.store.records import ObjectRecord
from reconciler.views import output
from reconciler.views.listings import LISTINGS, Listing, Query, Row

JSON = dict[str, Any]
# Where Kubernetes files events of cluster-scoped objects (nodes): kubectl looks there.
EVENTS_HOME = "default"
NODE_LEASES = "kube-node-lease"  # where each node's heartbeat Lease lives
SERVICE_NAME = "kubernetes.io/service-name"  # an EndpointSlice's label naming its service


def select(store: ReadStore, sql: str) -> list[tuple[Any, ...]] | None:
    """The rows of one read-only SQL statement on the store's database; None for a store
    without one (a test's in-memory store), whose callers then read through its methods."""
    db = getattr(store, "db", None)
    if isinstance(db, sqlite3.Connection):
        return [tuple(r) for r in db.execute(sql).fetchall()]
    engine = getattr(store, "engine", None)
    if engine is None:
        return None
    from sqlalchemy import text

    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).fetchall()]


# The namespaces in use, without reading every object's body and every pod's containers.
IN_USE = ("SELECT DISTINCT namespace FROM objects UNION SELECT DISTINCT namespace FROM pods")


def in_use(store: ReadStore) -> set[str]:
    """The namespaces of every object and pod in the store."""
    rows = select(store, IN_USE)
    if rows is None:
        return {o.key.namespace for o in store.objects()} | {
            p.namespace for p in store.list_pods()}
    return {str(r[0]) for r in rows}


def _namespaces(store: ReadStore, q: Query) -> list[Row]:
    """Declared namespaces plus every one in use and "default", as a cluster always has."""
    declared = {o.key.name: o for o in store.objects("Namespace")}
    used = {ns for ns in in_use(store) if ns} | {EVENTS_HOME}
    rows = []
    for name in sorted(used | set(declared)):
        o = declared.get(name)
        labels = ((o.body.get("metadata") or {}).get("labels") or {}) if o else {}
        if q.selector is not None and not q.selector(labels):
            continue

        def build(name: str = name, o: ObjectRecord | None = o) -> JSON:
            if o is not None:
                return k8s.object_to_k8s(o.body, uid=o.uid, created_at=o.created_at,
                                         generation=o.generation, status=o.status)
            return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}

        # In use but never declared: no creation time to show.
        rows.append(Row("", name, ["Active", output.age(o.created_at if o else None, q.now)],
                        build))
    return rows


def _leases(store: ReadStore, q: Query) -> list[Row]:
    """Each node's heartbeat as its kube-node-lease Lease (`kubectl describe node` reads it)."""
    if q.namespace not in (None, NODE_LEASES):
        return []
    rows = []
    for n in store.list_nodes():

        def build(n: NodeRecord = n) -> JSON:
            spec: JSON = {"holderIdentity": n.name, "leaseDurationSeconds": 40}
            if n.last_heartbeat is not None:
                spec["renewTime"] = n.last_heartbeat.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": n.name, "namespace": NODE_LEASES,
                                 "creationTimestamp": k8s.timestamp(n.created_at)},
                    "spec": spec}

        rows.append(Row(NODE_LEASES, n.name, [n.name, output.age(n.created_at, q.now)], build))
    return rows


def _slice_endpoints(subset: JSON) -> list[JSON]:
    out = []
    for key, ready in (("addresses", True), ("notReadyAddresses", False)):
        for a in subset.get(key) or []:
            ep: JSON = {"addresses": [a.get("ip", "")],
                        "conditions": {"ready": ready, "serving": ready, "terminating": False}}
            for field in ("nodeName", "targetRef", "hostname"):
                if a.get(field):
                    ep[field] = a[field]
            out.append(ep)
    return out


def _slices(store: ReadStore, q: Query) -> list[Row]:
    """One EndpointSlice per subset of each service's endpoints, named <service>-<hash>."""
    rows = []
    for ep_row in LISTINGS["Endpoints"].load(store, Query(q.namespace, None, q.now)):
        endpoints = ep_row.build()
        created = (endpoints.get("metadata") or {}).get("creationTimestamp")
        for i, subset in enumerate(endpoints.get("subsets") or []):
            digest = hashlib.sha256(f"{ep_row.namespace}/{ep_row.name}/{i}".encode())
            name = f"{ep_row.name}-{digest.hexdigest()[:5]}"
            labels = {SERVICE_NAME: ep_row.name,
                      "endpointslice.kubernetes.io/managed-by": "reconciler"}
            if q.selector is not None and not q.selector(labels):
                continue
            ports = [{"name": p.get("name", ""), "port": p.get("port"),
                      "protocol": p.get("protocol", "TCP")} for p in subset.get("ports") or []]
            obj: JSON = {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": name, "namespace": ep_row.namespace, "labels": labels,
                             "creationTimestamp": created},
                "addressType": "IPv6" if ":" in str((subset.get("addresses") or [{}])[0]
                                                    .get("ip", "")) else "IPv4",
                "endpoints": _slice_endpoints(subset), "ports": ports}
            ips = [e["addresses"][0] for e in obj["endpoints"]]
            cells = [obj["addressType"], ",".join(str(p["port"]) for p in ports) or "<unset>",
                     ",".join(ips[:3]) + (f" + {len(ips) - 3} more..." if len(ips) > 3 else "")
                     or output.NONE, ep_row.cells[-1]]
            rows.append(Row(ep_row.namespace, name, cells, partial(dict, obj)))
    return rows


# The Listings of `reconciler get`, and the API's own where a cluster has more to show.
API_LISTINGS: dict[str, Listing] = {
    **LISTINGS,
    "Namespace": Listing("Namespace", "namespaces", "namespace", ("NAME", "STATUS", "AGE"), (),
                         _namespaces, namespaced=False),
    "Lease": Listing("Lease", "leases", "lease.coordination.k8s.io", ("NAME", "HOLDER", "AGE"),
                     (), _leases),
    "EndpointSlice": Listing("EndpointSlice", "endpointslices",
                             "endpointslice.discovery.k8s.io",
                             ("NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"), (), _slices),
}


def listing_for(kind: str) -> Listing:
    """The Listing (loader and columns) of a served kind."""
    return API_LISTINGS[kind]
