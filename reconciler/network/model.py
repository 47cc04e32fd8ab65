"""The service table: what every proxy and the DNS server of a host serve, as plain data.

Built from the store by `reconciler.network.feed.build_table` (as kube-proxy is fed
from the API server) and handed to `ServiceProxy.update` and `DnsServer.update`.
Pure: no I/O, so the iptables rendering and the userspace balancers are unit-tested
from hand-made tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Protocol = Literal["TCP", "UDP"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
Affinity = Literal["None", "ClientIP"]

# Kubernetes' default for sessionAffinityConfig.clientIP.timeoutSeconds (3 hours).
DEFAULT_AFFINITY_TIMEOUT = 10800
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True, order=True)
class Backend:
    """An address the proxy of one host can connect to for one endpoint."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True, order=True)
class Endpoint:
    """One ready endpoint of one service port.

    `ip`/`port` are the pod's address and target port. Pod addresses are private to
    their Docker host, so a pod on another node is reached at `host_ip:host_port`
    (the port Docker published on that node). `node` is "" for addresses outside
    the cluster (a selectorless service's Endpoints object): those are used as is.
    """

    ip: str
    port: int
    node: str = ""
    host_ip: str = ""
    host_port: int = 0
    hostname: str = ""  # the pod's name: headless DNS answers NAME.svc... for it

    def backend(self, node_name: str) -> Backend | None:
        """Where the proxy of `node_name` sends traffic for this endpoint; None if unreachable."""
        if not self.node or self.node == node_name:
            return Backend(self.ip, self.port)
        if self.host_ip and self.host_port:
            return Backend(self.host_ip, self.host_port)
        return None

    def is_remote(self, node_name: str) -> bool:
        return bool(self.node) and self.node != node_name


@dataclass(frozen=True)
class ServicePort:
    """One port of a service with the endpoints serving it (target ports may differ per pod)."""

    port: int
    protocol: Protocol = "TCP"
    name: str = ""
    node_port: int = 0
    endpoints: tuple[Endpoint, ...] = ()

    def backends(self, node_name: str) -> tuple[Backend, ...]:
        """The distinct reachable backends from `node_name`, in a stable order."""
        seen: dict[Backend, None] = {}
        for ep in self.endpoints:
            b = ep.backend(node_name)
            if b is not None:
                seen.setdefault(b, None)
        return tuple(sorted(seen))


@dataclass(frozen=True)
class ServiceEntry:
    """One Service as the network layer needs it."""

    namespace: str
    name: str
    type: ServiceType = "ClusterIP"
    cluster_ip: str = ""  # "" for ExternalName, "None" for headless
    ports: tuple[ServicePort, ...] = ()
    external_ips: tuple[str, ...] = ()
    session_affinity: Affinity = "None"
    affinity_timeout: int = DEFAULT_AFFINITY_TIMEOUT
    external_name: str = ""
    # Ready pod addresses, for headless DNS even when the service declares no ports.
    addresses: tuple[Endpoint, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def headless(self) -> bool:
        return self.cluster_ip == "None"

    @property
    def proxied(self) -> bool:
        """Headless and ExternalName services get no cluster IP and no proxying."""
        return self.type != "ExternalName" and bool(self.cluster_ip) and not self.headless

    def fqdn(self, domain: str = CLUSTER_DOMAIN) -> str:
        return f"{self.name}.{self.namespace}.svc.{domain}"


@dataclass(frozen=True)
class ServiceTable:
    """Every service of the cluster, as one comparable value: equal tables, nothing to do."""

    services: tuple[ServiceEntry, ...] = ()
    # The DNS service's own address (it must stay on lo even with no Service for it).
    extra_addresses: tuple[str, ...] = field(default=())
    # (pod IP, namespace): DNS reads a short name relative to the asking pod's namespace.
    pod_namespaces: tuple[tuple[str, str], ...] = field(default=())
    # (pod IP, node, node address) of every live pod: hosts route to each other's pods.
    pod_hosts: tuple[tuple[str, str, str], ...] = field(default=())

    @classmethod
    def of(
        cls,
        services: list[ServiceEntry],
        extra_addresses: tuple[str, ...] = (),
        pod_namespaces: dict[str, str] | None = None,
        pod_hosts: Iterable[tuple[str, str, str]] = (),
    ) -> ServiceTable:
        return cls(tuple(sorted(services, key=lambda s: (s.namespace, s.name))), extra_addresses,
                   tuple(sorted((pod_namespaces or {}).items())), tuple(sorted(pod_hosts)))

    def get(self, namespace: str, name: str) -> ServiceEntry | None:
        for s in self.services:
            if s.namespace == namespace and s.name == name:
                return s
        return None

    def namespace_of(self, ip: str) -> str | None:
        """The namespace of the pod with address `ip`, None when no (single) pod has it."""
        for pod_ip, namespace in self.pod_namespaces:
            if pod_ip == ip:
                return namespace
        return None

    def proxied(self) -> tuple[ServiceEntry, ...]:
        return tuple(s for s in self.services if s.proxied)

    def cluster_ips(self) -> frozenset[str]:
        """Addresses the host must carry on lo: cluster IPs and the extra (DNS) addresses."""
        return frozenset(s.cluster_ip for s in self.proxied()) | frozenset(self.extra_addresses)
