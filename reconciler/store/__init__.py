"""The state store: desired objects, pods, nodes, endpoints, allocations, events, leases.

`Store.open(url_or_path)` is the entry point (see `reconciler.store.store` for
the method list and docs/store.md for the tables). This package is one of the
few that import SQLAlchemy; the pure core never imports it.
"""

from reconciler.store.engine import StoreMissing
from reconciler.store.events import LeaseRecord
from reconciler.store.network import AllocationError, EndpointsRecord
from reconciler.store.objects import ObjectRecord, RevisionRecord
from reconciler.store.store import Store

__all__ = [
    "AllocationError",
    "EndpointsRecord",
    "LeaseRecord",
    "ObjectRecord",
    "RevisionRecord",
    "Store",
    "StoreMissing",
]
