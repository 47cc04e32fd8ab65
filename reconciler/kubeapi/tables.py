"""Server-side tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).

Used by `app.py` for lists and gets: kubectl asks every `get` for a Table and
prints its columns, so `kubectl get` shows the same columns as `reconciler get`
(the `Listing` of `reconciler.views.listings`: its headers, then its wide
headers at priority 1, which kubectl shows with `-o wide`). The NAME column has
format "name", which kubectl prefixes with the kind for `get all`. Each row
carries the object as `includeObject` asks: None, Metadata (default) or Object.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.kubeapi.listings import listing_for
from reconciler.kubeapi.objects import Entry
from reconciler.kubeapi.resources import Resource

JSON = dict[str, Any]
TABLE_KIND = "as=table"

# What kubectl's column descriptions say; the rest get the header as description.
_DESCRIPTIONS = {
    "NAME": "Name must be unique within a namespace.",
    "AGE": "CreationTimestamp is a timestamp representing the server time when this object "
           "was created.",
}


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a meta.k8s.io Table (kubectl's `get` does)."""
    for part in accept.lower().split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if TABLE_KIND in params and "g=meta.k8s.io" in params:
            return True
    return False


def table_version(accept: str) -> str:
    """The Table apiVersion kubectl asked for first (v1, or v1beta1 for old clients)."""
    for part in accept.lower().split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if TABLE_KIND in params:
            return "meta.k8s.io/v1beta1" if "v=v1beta1" in params else "meta.k8s.io/v1"
    return "meta.k8s.io/v1"


# Headers whose Kubernetes spelling is not word by word capitalized.
_SPELLED = {"PORT(S)": "Port(s)", "STORAGECLASS": "StorageClass", "ADDRESSTYPE": "AddressType",
            "VOLUMEMODE": "VolumeMode", "IP": "IP", "OS": "OS"}


def column_name(header: str) -> str:
    """A header of `reconciler get` as the API server names the column ("Cluster-IP")."""
    words = re.split(r"([ -])", header)
    return "".join(_SPELLED.get(w, w.capitalize()) for w in words)


def column_definitions(resource: Resource) -> list[JSON]:
    """The Table's columns: the Listing's headers, then its wide ones at priority 1."""
    listing = listing_for(resource.kind)
    cols = []
    for priority, headers in ((0, listing.headers), (1, listing.wide)):
        for h in headers:
            cols.append({
                "name": column_name(h),
                "type": "integer" if h in ("RESTARTS", "COUNT") else "string",
                "format": "name" if h == "NAME" else "", "priority": priority,
                "description": _DESCRIPTIONS.get(h, column_name(h)),
            })
    return cols


def _cells(resource: Resource, entry: Entry) -> list[Any]:
    listing = listing_for(resource.kind)
    named = "NAME" in listing.headers
    cells: list[Any] = ([entry.obj["metadata"].get("name", "")] if named else [])
    cells += entry.row.cells + entry.row.wide
    want = len(listing.headers) + len(listing.wide)
    cells = (cells + [""] * want)[:want]
    for i, h in enumerate([*listing.headers, *listing.wide]):
        if h in ("RESTARTS", "COUNT") and str(cells[i]).isdigit():
            cells[i] = int(cells[i])
    return cells


def _row_object(obj: JSON, include: str, api_version: str) -> JSON | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version.replace("1beta1", "1"),
            "metadata": obj.get("metadata", {})}


def table(resource: Resource, found: list[Entry], rv: str, *, include: str = "Metadata",
          api_version: str = "meta.k8s.io/v1", cont: str = "", remaining: int = 0,
          stale: bool = False) -> JSON:
    """A Table of `found` (kubectl's `get` output, computed here). `stale`: a trailing
    Stale column, as `reconciler get` adds when an object's manifest fails to load (the
    caller decides over the whole list, so every page of it has the same columns)."""
    rows = []
    for e in found:
        row: JSON = {"cells": _cells(resource, e) + (["yes" if e.row.stale else "no"]
                                                      if stale else [])}
        obj = _row_object(e.obj, include, api_version)
        if obj is not None:
            row["object"] = obj
        rows.append(row)
    meta: JSON = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
        meta["remainingItemCount"] = remaining
    columns = column_definitions(resource)
    if stale:
        columns.append({"name": "Stale", "type": "string", "format": "", "priority": 0,
                        "description": "Whether the object's manifest fails to load now: "
                                       "the store keeps its last good version."})
    return {"kind": "Table", "apiVersion": api_version, "metadata": meta,
            "columnDefinitions": columns, "rows": rows}
