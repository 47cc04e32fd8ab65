"""Service networking in the store: computed endpoints and cluster IP / node port allocations.

Mixin of `Store`. The endpoints controller writes `set_endpoints(ns, name,
subsets)` (Kubernetes' Endpoints `subsets`); the proxy, DNS and the CLI read
them. The service controller calls `allocate_cluster_ip(owner, cidr, requested)`
and `allocate_node_port(owner, slot, requested)` (owner "namespace/name"); an
allocation is stable, so a service keeps its address across restarts, and
`release_allocations(owner)` frees them when the service goes.

As Kubernetes does since KEP-3070/3668, the lowest addresses and ports of a
range form a static band that dynamic allocation uses only when the rest is
full, so a fixed `clusterIP:` (say, the DNS service's) rarely finds its address taken.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from reconciler.api.types import JSON
from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import AllocationRow, EndpointsRow
from reconciler.store.records import EndpointsRecord

CLUSTER_IP = "cluster-ip"
NODE_PORT = "node-port"
NODE_PORT_RANGE = (30000, 32767)


class AllocationError(Exception):
    """A requested address or port is taken or out of range, or the range is full."""


def static_band(size: int, minimum: int, divisor: int, maximum: int) -> int:
    """How many of the lowest values dynamic allocation avoids (KEP-3070 formula)."""
    return min(max(minimum, size // divisor), maximum)


class NetworkMixin(StoreBase):
    """Endpoints and allocations."""

    def set_endpoints(
        self, namespace: str, name: str, subsets: list[JSON], now: datetime | None = None
    ) -> None:
        """Replace a service's endpoints."""
        now = now or utcnow()
        where = (EndpointsRow.namespace == namespace, EndpointsRow.name == name)
        with self._write() as s:
            result = s.execute(
                update(EndpointsRow).where(*where).values(subsets=subsets, updated_at=now)
            )
            if not getattr(result, "rowcount", 0):
                s.execute(
                    insert(EndpointsRow).values(
                        namespace=namespace,
                        name=name,
                        subsets=subsets,
                        created_at=now,
                        updated_at=now,
                    )
                )

    def get_endpoints(self, namespace: str, name: str) -> EndpointsRecord | None:
        """One service's endpoints, or None when never computed."""
        found = self._endpoints(namespace, name)
        return found[0] if found else None

    def list_endpoints(self, namespace: str | None = None) -> list[EndpointsRecord]:
        """All endpoints (of one namespace), sorted by namespace and name."""
        return self._endpoints(namespace, None)

    def delete_endpoints(self, namespace: str, name: str) -> bool:
        """Forget a service's endpoints; False when there were none."""
        with self._write() as s:
            result = s.execute(
                delete(EndpointsRow).where(
                    EndpointsRow.namespace == namespace, EndpointsRow.name == name
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def _endpoints(self, namespace: str | None, name: str | None) -> list[EndpointsRecord]:
        query = select(EndpointsRow.__table__).order_by(EndpointsRow.namespace, EndpointsRow.name)
        if namespace is not None:
            query = query.where(EndpointsRow.namespace == namespace)
        if name is not None:
            query = query.where(EndpointsRow.name == name)
        with self._read() as s:
            return [
                EndpointsRecord(r.namespace, r.name, r.subsets, r.created_at, r.updated_at)
                for r in s.execute(query)
            ]

    def allocate_cluster_ip(self, owner: str, cidr: str, requested: str | None = None) -> str:
        """The cluster IP of service `owner` ("ns/name"): kept if held, else allocated."""
        net = ipaddress.ip_network(cidr, strict=False)
        first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
        if net.num_addresses <= 2:
            first, last = int(net.network_address), int(net.broadcast_address)
        want = None
        if requested:
            addr = ipaddress.ip_address(requested)
            if addr not in net:
                raise AllocationError(f"{requested} is not in the service range {cidr}")
            want = int(addr)
        band = static_band(last - first + 1, 16, 16, 256)
        value = self._allocate(CLUSTER_IP, owner, "", first, last, band, want)
        return str(ipaddress.ip_address(value))

    def allocate_node_port(
        self,
        owner: str,
        slot: str,
        requested: int | None = None,
        port_range: tuple[int, int] = NODE_PORT_RANGE,
    ) -> int:
        """The node port of service `owner` for port `slot` (its name or number)."""
        low, high = port_range
        if requested is not None and not low <= requested <= high:
            raise AllocationError(
                f"provided port {requested} is not in the valid range {low}-{high}"
            )
        band = static_band(high - low + 1, 16, 32, 128)
        return self._allocate(NODE_PORT, owner, slot, low, high, band, requested)

    def allocations(self, owner: str) -> dict[str, str]:
        """What `owner` holds: {"cluster-ip": "10.96.0.20", "node-port/http": "30080"}."""
        query = select(AllocationRow.kind, AllocationRow.slot, AllocationRow.value).where(
            AllocationRow.owner == owner
        )
        with self._read() as s:
            return {
                (kind if not slot else f"{kind}/{slot}"): value
                for kind, slot, value in s.execute(query)
            }

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

    def _allocate(
        self, kind: str, owner: str, slot: str, first: int, last: int, band: int, want: int | None
    ) -> int:
        def encode(v: int) -> str:
            return str(ipaddress.ip_address(v)) if kind == CLUSTER_IP else str(v)

        def decode(text: str) -> int:
            return int(ipaddress.ip_address(text)) if kind == CLUSTER_IP else int(text)

        mine = (
            AllocationRow.kind == kind,
            AllocationRow.owner == owner,
            AllocationRow.slot == slot,
        )
        with self._write() as s:
            held = s.execute(select(AllocationRow.value).where(*mine)).scalar()
            if held is not None and (want is None or decode(held) == want):
                return decode(held)
            used = {
                decode(v)
                for v in s.execute(
                    select(AllocationRow.value).where(AllocationRow.kind == kind)
                ).scalars()
            }
            if want is not None:
                if want in used:
                    raise AllocationError(f"provided {kind} {encode(want)} is already allocated")
                value = want
            else:
                value = next(
                    (
                        v
                        for lo, hi in ((first + band, last), (first, first + band - 1))
                        for v in range(lo, hi + 1)
                        if v not in used
                    ),
                    -1,
                )
                if value < 0:
                    raise AllocationError(f"range for {kind} is full")
            s.execute(delete(AllocationRow).where(*mine))
            s.execute(
                insert(AllocationRow).values(
                    kind=kind, owner=owner, slot=slot, value=encode(value), created_at=utcnow()
                )
            )
            return value
