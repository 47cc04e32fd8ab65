"""Reads the store into a `ServiceTable`: what the proxy and DNS of one host are fed.

`TableFeed` keeps what it read and re-reads only the topics the store's change
feed names (reconciler/network/embedded.py waits on that feed instead of polling).

The service controller (reconciler/control/services.py) writes each Service's
status (`clusterIP`, `ports` with `nodePort`, `type`) and its endpoints (Kubernetes
`subsets`); the runtime records each pod's published ports. `build_table` joins the
three, as kube-proxy joins Services and EndpointSlices, so a proxy on any host can
pick the pod address (same host) or the node address and published port (elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from reconciler.api.records import PodNetwork, PodRecord
from reconciler.network.model import (
    DEFAULT_AFFINITY_TIMEOUT,
    Affinity,
    Endpoint,
    Protocol,
    ServiceEntry,
    ServicePort,
    ServiceTable,
    ServiceType,
)

JSON = dict[str, Any]
# A pod as the table needs it: `PodNetwork` (the store's narrow read) or a whole `PodRecord`.
PodAddress = PodNetwork | PodRecord

# What a proxy reads, as the store's feed names it (`reconciler.store.feeds.TOPICS`).
TOPICS = frozenset({"services", "endpoints", "pods", "nodes"})
# A running proxy acknowledges at least this often (seconds), even with nothing new: a
# drain waits only for proxies that did within a few of these (see control/pods.py).
ACK_EVERY = 60.0


def _endpoints_for(
    subsets: list[JSON], port: JSON, pods: dict[tuple[str, str], PodAddress],
    nodes: dict[str, str], namespace: str,
) -> tuple[Endpoint, ...]:
    """Ready endpoints of one service port: the subset port with the same name (or the only one)."""
    out: list[Endpoint] = []
    name = port.get("name") or ""
    protocol = port.get("protocol") or "TCP"
    for subset in subsets:
        sports = subset.get("ports") or []
        match = [
            p for p in sports
            if (p.get("name") or "") == name and (p.get("protocol") or "TCP") == protocol
        ]
        if not match and len(sports) == 1 and not name:
            match = sports
        if not match:
            continue
        target = int(match[0]["port"])
        for addr in subset.get("addresses") or []:
            out.append(_endpoint(addr, target, protocol, pods, nodes, namespace))
    return tuple(sorted(set(out)))


def _endpoint(
    addr: JSON, target: int, protocol: str, pods: dict[tuple[str, str], PodAddress],
    nodes: dict[str, str], namespace: str,
) -> Endpoint:
    ip = str(addr.get("ip", ""))
    node = str(addr.get("nodeName") or "")
    ref = addr.get("targetRef") or {}
    pod = pods.get((ref.get("namespace") or namespace, ref.get("name") or ""))
    host_ip, host_port = "", 0
    if pod is not None:
        node = node or pod.node_name
        host_ip = pod.host_ip or nodes.get(pod.node_name, "")
        host_port = pod.ports.get(f"{target}/{protocol}", 0)
    elif node:
        host_ip = nodes.get(node, "")
    hostname = str(addr.get("hostname") or ref.get("name") or "")
    return Endpoint(ip, target, node, host_ip, host_port, hostname)


def service_entry(
    body: JSON, status: JSON | None, subsets: list[JSON],
    pods: dict[tuple[str, str], PodAddress], nodes: dict[str, str],
) -> ServiceEntry:
    """One Service from its body, its status from the controller, and its endpoints."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = status or {}
    ns = meta.get("namespace") or "default"
    stype = cast(ServiceType, status.get("type") or spec.get("type") or "ClusterIP")
    cluster_ip = status.get("clusterIP", spec.get("clusterIP") or "")
    ports = []
    for p in status.get("ports") or spec.get("ports") or []:
        ports.append(ServicePort(
            port=int(p["port"]),
            protocol=cast(Protocol, p.get("protocol") or "TCP"),
            name=p.get("name") or "",
            node_port=int(p.get("nodePort") or 0) if stype in ("NodePort", "LoadBalancer") else 0,
            endpoints=_endpoints_for(subsets, p, pods, nodes, ns),
        ))
    cfg = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
    addresses = {
        _endpoint(a, 0, "TCP", pods, nodes, ns)
        for s in subsets for a in s.get("addresses") or []
    }
    return ServiceEntry(
        namespace=ns,
        name=meta.get("name", ""),
        type=stype,
        cluster_ip="" if stype == "ExternalName" else str(cluster_ip or ""),
        ports=tuple(ports),
        external_ips=tuple(spec.get("externalIPs") or ()),
        session_affinity=cast(Affinity, spec.get("sessionAffinity") or "None"),
        affinity_timeout=int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT),
        external_name=spec.get("externalName") or "",
        addresses=tuple(sorted(addresses)),
    )


def build_table(store: Any, node_name: str, dns_ip: str = "") -> ServiceTable:
    """The service table from the store (`reconciler.store.Store`) as the host `node_name` sees it.

    `node_name` is accepted for symmetry with the proxy; the table itself is the same
    for every host, the proxy chooses backends by its own node name.
    """
    del node_name
    feed = TableFeed(store, dns_ip)
    return feed.refresh(TOPICS)


class TableFeed:
    """The four inputs of the table, kept between reads: `refresh(topics)` re-reads only those.

    The proxies learn which topics changed from the store's feed (`Store.feed()`:
    services, endpoints, pods, nodes); a change to one Endpoints re-reads the
    endpoints, not every pod. `endpoints_revision` is the store's endpoints counter
    read just before the endpoints were: the table holds at least that revision
    (what a proxy acknowledges once its rules are in place).
    """

    def __init__(self, store: Any, dns_ip: str = "") -> None:
        self.store = store
        self.dns_ip = dns_ip
        self.endpoints_revision = 0
        self._services: list[Any] = []
        self._endpoints: dict[tuple[str, str], list[JSON]] = {}
        self._pods: dict[tuple[str, str], PodAddress] = {}
        self._nodes: dict[str, str] = {}
        self._table: ServiceTable | None = None

    def refresh(self, topics: Iterable[str]) -> ServiceTable:
        """Re-read `topics` from the store and compose the table (pure over what is kept)."""
        topics = set(topics)
        store = self.store
        if "endpoints" in topics:
            revision = getattr(store, "endpoints_revision", None)
            self.endpoints_revision = int(revision()) if revision is not None else 0
            self._endpoints = {(e.namespace, e.name): e.subsets for e in store.list_endpoints()}
        if "services" in topics:
            self._services = store.objects(kind="Service")
        if "pods" in topics:
            # The narrow read: pods change with every start and status, and a whole pod
            # (spec, statuses) decoded a thousand times per change was the proxy's main cost.
            narrow = getattr(store, "pod_network", None)
            pods = narrow() if narrow is not None else store.list_pods()
            self._pods = {(p.namespace, p.name): p for p in pods}
        if "nodes" in topics:
            nodes = {n.name: n.address for n in store.list_nodes()}
            if nodes == self._nodes and topics <= {"nodes"} and self._table is not None:
                # Every heartbeat writes its node's row, so "nodes" comes every few seconds
                # per host; the table needs only the addresses, which seldom move.
                return self._table
            self._nodes = nodes
        self._table = compose(self._services, self._endpoints, self._pods, self._nodes,
                              self.dns_ip)
        return self._table


def compose(
    services: list[Any], endpoints: dict[tuple[str, str], list[JSON]],
    pods: dict[tuple[str, str], PodAddress], nodes: dict[str, str], dns_ip: str = "",
) -> ServiceTable:
    """The table from Service records, endpoints subsets, pods by name and node addresses."""
    entries = []
    for rec in services:
        status = rec.status or {}
        if status.get("error") and not status.get("clusterIP"):
            continue  # no address allocated: nothing to serve yet
        subsets = endpoints.get((rec.key.namespace, rec.key.name), [])
        entries.append(service_entry(rec.body, status, subsets, pods, nodes))
    return ServiceTable.of(entries, (dns_ip,) if dns_ip else (), pod_namespaces(pods.values()),
                           pod_hosts(pods.values(), nodes))


def pod_namespaces(pods: Iterable[PodAddress]) -> dict[str, str]:
    """Pod IP -> namespace. Pod IPs are private to their host and two hosts may hand out
    the same one: an address held in two namespaces is left out (its short names then
    resolve in default, as they do from the host)."""
    seen: dict[str, set[str]] = {}
    for pod in pods:
        if pod.pod_ip and pod.deletion_timestamp is None:
            seen.setdefault(pod.pod_ip, set()).add(pod.namespace)
    return {ip: next(iter(nss)) for ip, nss in seen.items() if len(nss) == 1}


def pod_hosts(pods: Iterable[PodAddress], addresses: dict[str, str]) -> list[tuple[str, str, str]]:
    """(pod IP, node, node address) of placed pods with an address.

    A terminating pod keeps its route: it runs, and may still be served connections,
    until the proxies applied the Endpoints without it (control/pods.py waits for
    that), so dropping its route at the deletion mark failed those connections (a
    drain of another host under load). Where an address is held on two nodes, the
    live pods' node wins; two live nodes with one address: no route.
    """
    live: dict[str, set[tuple[str, str]]] = {}
    terminating: dict[str, set[tuple[str, str]]] = {}
    for pod in pods:
        if pod.pod_ip and pod.node_name:
            into = live if pod.deletion_timestamp is None else terminating
            into.setdefault(pod.pod_ip, set()).add(
                (pod.node_name, addresses.get(pod.node_name, "")))
    held = {ip: live.get(ip) or at for ip, at in terminating.items()} | live
    return [(ip, *next(iter(at))) for ip, at in held.items() if len(at) == 1]
