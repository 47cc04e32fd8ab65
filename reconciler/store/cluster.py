"""The store's cluster identity: the id given to a store when it was created.

Migration 0005 writes the one row of the `cluster` table. The composition root
(`reconciler.service.app`) reads it once and puts it in the runtime
configuration: every container, volume and network the driver creates carries
it as a label, and orphan collection (`reconciler.control.nodes`) only ever
removes containers of its own id. Another store on the same engine (another
service, a lost or relative-path state file) has another id, so neither
collects the other's pods.
"""

from __future__ import annotations

from sqlalchemy import select

from reconciler.store.base import StoreBase
from reconciler.store.models import ClusterRow


class ClusterMixin(StoreBase):
    """The cluster id, read once: it never changes for the life of a store."""

    def cluster_id(self) -> str:
        """This store's cluster id (a uuid4 string)."""
        cached: str | None = getattr(self, "_cluster_id", None)
        if cached is None:
            with self._read() as s:
                # Oldest first: a store copied together with another's row would still
                # answer with the id it was created with.
                found = s.execute(
                    select(ClusterRow.id).order_by(ClusterRow.created_at, ClusterRow.id).limit(1)
                ).scalar_one_or_none()
            if found is None:
                raise RuntimeError("the store has no cluster id (migration 0005 did not run)")
            cached = str(found)
            self._cluster_id = cached
        return cached
