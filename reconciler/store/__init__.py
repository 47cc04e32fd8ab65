"""The state store: desired objects, pods, nodes, endpoints, allocations, events, leases.

`Store.open(url_or_path)` is the entry point (see `reconciler.store.store` for
the method list and docs/store.md for the tables); the CLI reads through
`reconciler.store.opener.open_reader`. Names are exported lazily so that
importing the light modules (records, reader) never imports SQLAlchemy; only
the SQLAlchemy modules of this package import it, the pure core never does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.store.network import AllocationError
    from reconciler.store.records import (
        EndpointsRecord,
        LeaseRecord,
        ObjectRecord,
        RevisionRecord,
    )
    from reconciler.store.schema_head import StoreMissing
    from reconciler.store.store import Store

_WHERE = {
    "AllocationError": "reconciler.store.network",
    "EndpointsRecord": "reconciler.store.records",
    "LeaseRecord": "reconciler.store.records",
    "ObjectRecord": "reconciler.store.records",
    "RevisionRecord": "reconciler.store.records",
    "Store": "reconciler.store.store",
    "StoreMissing": "reconciler.store.schema_head",
}

__all__ = [
    "AllocationError",
    "EndpointsRecord",
    "LeaseRecord",
    "ObjectRecord",
    "RevisionRecord",
    "Store",
    "StoreMissing",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'reconciler.store' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
