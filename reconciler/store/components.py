"""Component health in the store: the running service writes it, `get cs` reads it.

The CLI reads the store only, so the service publishes the health of its parts
(controllers, scheduler, store, nodes, fluentd, proxy, DNS) every few seconds;
`updated_at` tells the reader whether the service itself is still alive.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import ComponentRow
from reconciler.store.records import ComponentRecord


class ComponentsMixin(StoreBase):
    """Component health."""

    def set_components(
        self, health: dict[str, tuple[bool, str]], now: datetime | None = None
    ) -> None:
        """Replace every component's health in one transaction."""
        now = now or utcnow()
        with self._write() as s:
            s.execute(delete(ComponentRow))
            for name, (healthy, message) in sorted(health.items()):
                s.add(ComponentRow(name=name, healthy=healthy, message=message, updated_at=now))

    def list_components(self) -> list[ComponentRecord]:
        """Components sorted by name."""
        with self._read() as s:
            rows = s.execute(select(ComponentRow).order_by(ComponentRow.name)).scalars()
            return [ComponentRecord(r.name, r.healthy, r.message, r.updated_at) for r in rows]
