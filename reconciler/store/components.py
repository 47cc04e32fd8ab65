"""Component health in the store: the running service writes it, `get cs` reads it.

The CLI reads the store only, so the service publishes the health of its parts
(controllers, scheduler, store, nodes, fluentd, proxy, DNS) every few seconds;
`updated_at` tells the reader whether the service itself is still alive.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import ComponentRow
from reconciler.store.upsert import write_upsert


class ComponentsMixin(StoreBase):
    """Component health; `list_components` is `reads.ReadStore`'s."""

    def set_components(
        self, health: dict[str, tuple[bool, str]], now: datetime | None = None
    ) -> None:
        """Replace every component's health in one transaction."""
        now = now or utcnow()
        with self._write() as s:
            # Upsert, then drop the rest: a delete-all-then-insert by two writers at once
            # ends in a duplicate key on PostgreSQL (neither delete saw the other's rows).
            write_upsert(s, ComponentRow, [
                {"name": name, "healthy": healthy, "message": message, "updated_at": now}
                for name, (healthy, message) in sorted(health.items())], ["name"])
            s.execute(delete(ComponentRow).where(ComponentRow.name.not_in(sorted(health))))
