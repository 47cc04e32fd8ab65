"""compute_endpoints: the addresses behind a service, from its selector and the pods.

Called by the service controller whenever a service or a pod of its namespace
changes; it stores `to_subsets()` (Kubernetes' Endpoints shape) for the proxy,
DNS and the CLI. Mirrors pkg/controller/endpoint: syncService (selector, per-port
podutil.FindPort, addEndpointSubset with publishNotReadyAddresses),
endpointutil.ShouldPodBeInEndpoints, and endpoints.RepackSubsets (addresses grouped
by the set of ports they serve, sorted). A selectorless service takes the
Endpoints object declared in the folder (`endpoints_from_object`).

Pod IPs are private to their Docker host, so each endpoint also carries the pod's
host address and the host port Docker published for that port (PodRecord.host_ip,
PodRecord.ports["<containerPort>/<PROTO>"]): the proxy of another host connects there.
`to_subsets(with_hosts=True)` keeps that in two extra address fields, `hostIP` and
`hostPorts` ({"<port>/<PROTO>": hostPort}), which `from_subsets` reads back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.api.records import PodRecord
from reconciler.api.selectors import from_map
from reconciler.api.types import JSON


@dataclass(frozen=True, order=True)
class EndpointPort:
    """An Endpoints port: the service port's name, the target port on the address, protocol."""

    name: str
    port: int
    protocol: str = "TCP"

    def to_json(self) -> JSON:
        out: JSON = {"port": self.port, "protocol": self.protocol}
        if self.name:
            out = {"name": self.name, **out}
        return out


@dataclass(frozen=True)
class Endpoint:
    """One address serving one port (port None: a headless service that declares no port)."""

    ip: str
    port: EndpointPort | None
    ready: bool
    node_name: str = ""
    hostname: str = ""
    pod_namespace: str = ""
    pod_name: str = ""  # targetRef; "" for an address outside the cluster
    pod_uid: str = ""
    host_ip: str = ""  # where other hosts reach it
    host_port: int | None = None

    def address_json(self, with_hosts: bool = False) -> JSON:
        out: JSON = {"ip": self.ip}
        if self.hostname:
            out["hostname"] = self.hostname
        if self.node_name:
            out["nodeName"] = self.node_name
        if self.pod_name:
            out["targetRef"] = {"kind": "Pod", "namespace": self.pod_namespace,
                                "name": self.pod_name, "uid": self.pod_uid}
        if with_hosts and self.host_ip:
            out["hostIP"] = self.host_ip
        return out


@dataclass(frozen=True)
class EndpointSet:
    """The endpoints of one service, sorted (by port, then IP): equal sets, nothing to store."""

    namespace: str
    name: str
    endpoints: tuple[Endpoint, ...] = ()

    def ports(self) -> list[EndpointPort]:
        return sorted({e.port for e in self.endpoints if e.port is not None})

    def for_port(self, name: str, ready_only: bool = True) -> list[Endpoint]:
        """The endpoints of the service port called `name` ("" for an unnamed port)."""
        return [e for e in self.endpoints
                if e.port is not None and e.port.name == name and (e.ready or not ready_only)]

    def to_subsets(self, with_hosts: bool = False) -> list[JSON]:
        """RepackSubsets: addresses that serve the same ports share one subset."""
        addresses: dict[tuple[str, str], Endpoint] = {}
        host_ports: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        by_port: dict[EndpointPort | None, set[tuple[tuple[str, str], bool]]] = defaultdict(set)
        for e in self.endpoints:
            key = (e.ip, e.pod_uid)
            addresses.setdefault(key, e)
            by_port[e.port].add((key, e.ready))
            if e.port is not None and e.host_port is not None:
                host_ports[key][f"{e.port.port}/{e.port.protocol}"] = e.host_port
        groups: dict[frozenset[tuple[tuple[str, str], bool]], list[EndpointPort]] = {}
        for port, served in by_port.items():
            group = groups.setdefault(frozenset(served), [])
            if port is not None:
                group.append(port)

        def address(key: tuple[str, str]) -> JSON:
            out = addresses[key].address_json(with_hosts)
            if with_hosts and host_ports.get(key):
                out["hostPorts"] = dict(sorted(host_ports[key].items()))
            return out

        subsets: list[JSON] = []
        for members, ports in groups.items():
            subset: JSON = {}
            ready = sorted(k for k, r in members if r)
            not_ready = sorted(k for k, r in members if not r)
            if ready:
                subset["addresses"] = [address(k) for k in ready]
            if not_ready:
                subset["notReadyAddresses"] = [address(k) for k in not_ready]
            if ports:
                subset["ports"] = [p.to_json() for p in sorted(ports)]
            subsets.append(subset)
        subsets.sort(key=_subset_order)
        return subsets


def _subset_order(subset: JSON) -> tuple[str, ...]:
    ips = [a["ip"] for a in subset.get("addresses", []) + subset.get("notReadyAddresses", [])]
    ports = [f"{p.get('name', '')}:{p['port']}/{p['protocol']}" for p in subset.get("ports", [])]
    return (*ips[:1], *ports)


def should_be_in_endpoints(pod: PodRecord, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: has an IP, not finished, not being deleted (unless tolerated)."""
    if pod.phase in ("Succeeded", "Failed") or not pod.pod_ip:
        return False
    return include_terminating or pod.deletion_timestamp is None


def find_port(pod: PodRecord, target: int | str, protocol: str) -> int | None:
    """podutil.FindPort: a number as is; a name through the pod's container ports."""
    if isinstance(target, int):
        return target
    for container in pod.spec.get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _target(value: Any, default: int) -> int | str:
    if value is None or value == "":
        return default
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    return str(value)


def compute_endpoints(service_body: JSON, pods: Sequence[PodRecord]) -> EndpointSet:
    """The endpoints of a service with a selector, from every pod given (any namespace)."""
    meta: Mapping[str, Any] = service_body.get("metadata") or {}
    spec: Mapping[str, Any] = service_body.get("spec") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name", ""))
    raw_selector = spec.get("selector")
    if not raw_selector:
        # The endpoints controller leaves selectorless services alone.
        return EndpointSet(namespace, name)
    selector = from_map({str(k): str(v) for k, v in raw_selector.items()})
    tolerate_unready = bool(spec.get("publishNotReadyAddresses"))
    headless = spec.get("clusterIP") == "None"
    service_ports: list[Mapping[str, Any]] = list(spec.get("ports") or [])
    found: list[Endpoint] = []
    for pod in pods:
        if pod.namespace != namespace or not selector.matches(pod.labels):
            continue
        if not should_be_in_endpoints(pod, tolerate_unready):
            continue
        ready = tolerate_unready or pod.ready
        hostname = ""
        if pod.spec.get("hostname") and pod.spec.get("subdomain") == name:
            hostname = str(pod.spec["hostname"])
        common: dict[str, Any] = dict(
            ip=pod.pod_ip, ready=ready, node_name=pod.node_name, hostname=hostname,
            pod_namespace=pod.namespace, pod_name=pod.name, pod_uid=pod.uid, host_ip=pod.host_ip,
        )
        if not service_ports and headless:
            found.append(Endpoint(port=None, **common))
        for sp in service_ports:
            protocol = str(sp.get("protocol") or "TCP")
            number = find_port(pod, _target(sp.get("targetPort"), int(sp["port"])), protocol)
            if number is None:
                continue  # a pod without that named port is left out of that port
            port = EndpointPort(str(sp.get("name") or ""), number, protocol)
            found.append(Endpoint(port=port, host_port=pod.ports.get(f"{number}/{protocol}"),
                                  **common))
    return EndpointSet(namespace, name, _sorted(found))


def _sorted(endpoints: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    return tuple(sorted(endpoints, key=lambda e: (e.port or EndpointPort("", 0, ""), e.ip,
                                                  e.pod_uid)))


def from_subsets(namespace: str, name: str, subsets: Sequence[JSON]) -> EndpointSet:
    """An EndpointSet from Kubernetes' `subsets` (with or without our host fields)."""
    found: list[Endpoint] = []
    for subset in subsets:
        ports = [EndpointPort(str(p.get("name") or ""), int(p["port"]),
                              str(p.get("protocol") or "TCP"))
                 for p in subset.get("ports") or []]
        for field_name, ready in (("addresses", True), ("notReadyAddresses", False)):
            for a in subset.get(field_name) or []:
                ref = a.get("targetRef") or {}
                ip = str(a["ip"])
                hosts: Mapping[str, Any] = a.get("hostPorts") or {}
                common: dict[str, Any] = dict(
                    ip=ip, ready=ready, node_name=str(a.get("nodeName") or ""),
                    hostname=str(a.get("hostname") or ""),
                    pod_namespace=str(ref.get("namespace") or ""),
                    pod_name=str(ref.get("name") or ""), pod_uid=str(ref.get("uid") or ""),
                    # An address outside the cluster is reached as declared.
                    host_ip=str(a.get("hostIP") or ("" if ref else ip)),
                )
                if not ports:
                    found.append(Endpoint(port=None, **common))
                for p in ports:
                    host_port = hosts.get(f"{p.port}/{p.protocol}")
                    if host_port is None and not ref:
                        host_port = p.port
                    found.append(Endpoint(port=p, host_port=None if host_port is None
                                          else int(host_port), **common))
    return EndpointSet(namespace, name, _sorted(found))


def endpoints_from_object(body: JSON) -> EndpointSet:
    """A selectorless service's endpoints: the Endpoints object from the folder, as is."""
    meta: Mapping[str, Any] = body.get("metadata") or {}
    return from_subsets(str(meta.get("namespace") or "default"), str(meta.get("name", "")),
                        body.get("subsets") or [])
