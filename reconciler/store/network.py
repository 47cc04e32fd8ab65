"""Service networking in the store: computed endpoints and cluster IP / node port allocations.

Mixin of `Store`. The endpoints controller writes `set_endpoints(ns, name,
subsets)` (Kubernetes' Endpoints `subsets`); the proxy, DNS and the CLI read
them. The service controller calls `allocate_cluster_ip(owner, cidr, requested)`
and `allocate_node_port(owner, slot, requested)` (owner "namespace/name"); an
allocation is stable, so a service keeps its address across restarts, and
`release_allocations(owner)` frees them when the service goes. Which value a
service gets is decided by `reconciler.planning.allocation` (pure); this module
reads the values in use and writes the choice in one transaction.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import delete, func, select

from reconciler.api.types import JSON
from reconciler.planning.allocation import (
    CLUSTER_IP,
    NODE_PORT,
    NODE_PORT_RANGE,
    AllocationError,
    Pool,
    choose,
    cluster_ip_pool,
    node_port_pool,
)
from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import AllocationRow, EndpointsRow
from reconciler.store.upsert import upsert, write_upsert

# First half of the advisory lock key of allocations ("allo", fits PostgreSQL's int4);
# the second half is the allocation kind's CRC.
ALLOCATION_LOCK = int.from_bytes(b"allo", "big")


class NetworkMixin(StoreBase):
    """Endpoints and allocations; `get/list_endpoints` and `allocations` are `reads.ReadStore`'s."""

    def set_endpoints(
        self, namespace: str, name: str, subsets: list[JSON], now: datetime | None = None
    ) -> None:
        """Replace a service's endpoints."""
        now = now or utcnow()
        values = {"namespace": namespace, "name": name, "subsets": subsets,
                  "created_at": now, "updated_at": now}
        with self._write() as s:
            # ON CONFLICT: an update-else-insert by two writers at once would both insert.
            s.execute(upsert(s, EndpointsRow, values, ["namespace", "name"],
                             {"subsets": subsets, "updated_at": now}))

    def delete_endpoints(self, namespace: str, name: str) -> bool:
        """Forget a service's endpoints; False when there were none."""
        with self._write() as s:
            result = s.execute(
                delete(EndpointsRow).where(
                    EndpointsRow.namespace == namespace, EndpointsRow.name == name
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def allocate_cluster_ip(self, owner: str, cidr: str, requested: str | None = None) -> str:
        """The cluster IP of service `owner` ("ns/name"): kept if held, else allocated."""
        pool, want = cluster_ip_pool(cidr, requested)
        return pool.encode(self._allocate(pool, owner, "", want))

    def allocate_node_port(
        self,
        owner: str,
        slot: str,
        requested: int | None = None,
        port_range: tuple[int, int] = NODE_PORT_RANGE,
    ) -> int:
        """The node port of service `owner` for port `slot` (its name or number)."""
        return self._allocate(node_port_pool(port_range, requested), owner, slot, requested)

    def cluster_ips(self) -> dict[str, str]:
        """Every owner's cluster IP in one read: {"ns/name": "10.96.0.20"}."""
        query = select(AllocationRow.owner, AllocationRow.value).where(
            AllocationRow.kind == CLUSTER_IP
        )
        with self._read() as s:
            return {owner: value for owner, value in s.execute(query)}

    def release_allocations(
        self, owner: str, kind: str | None = None, slot: str | None = None
    ) -> int:
        """Free what `owner` holds (of one kind and slot); returns how many were freed."""
        query = delete(AllocationRow).where(AllocationRow.owner == owner)
        if kind is not None:
            query = query.where(AllocationRow.kind == kind)
        if slot is not None:
            query = query.where(AllocationRow.slot == slot)
        with self._write() as s:
            return int(getattr(s.execute(query), "rowcount", 0))

    def _allocate(self, pool: Pool, owner: str, slot: str, want: int | None) -> int:
        mine = (
            AllocationRow.kind == pool.kind,
            AllocationRow.owner == owner,
            AllocationRow.slot == slot,
        )
        # Read and write in one transaction, so two services never get the same value.
        # On SQLite the transaction holds the write lock from its start; on PostgreSQL
        # (READ COMMITTED) a row lock cannot stop another writer inserting the value we
        # are about to choose, so allocations of one kind take a transaction-scoped
        # advisory lock and run one at a time.
        with self._write() as s:
            if s.get_bind().dialect.name == "postgresql":
                s.execute(select(func.pg_advisory_xact_lock(ALLOCATION_LOCK, zlib.crc32(
                    pool.kind.encode()) & 0x7FFFFFFF)))
            text = s.execute(select(AllocationRow.value).where(*mine)).scalar()
            held = None if text is None else pool.decode(text)
            used = {
                pool.decode(v)
                for v in s.execute(
                    select(AllocationRow.value).where(AllocationRow.kind == pool.kind)
                ).scalars()
            }
            value = choose(pool, used, held, want)
            if value != held:
                values = {"kind": pool.kind, "owner": owner, "slot": slot,
                          "value": pool.encode(value), "created_at": utcnow()}
                write_upsert(s, AllocationRow, [values], ["kind", "owner", "slot"])
            return value


__all__ = ["CLUSTER_IP", "NODE_PORT", "NODE_PORT_RANGE", "AllocationError", "NetworkMixin"]
