"""service_env: the Docker-link style environment variables that announce services to a pod.

Called by the pod lifecycle controller when it starts a pod's containers (unless
spec.enableServiceLinks is false); the variables go after the container's own env,
which wins on a name clash. Mirrors pkg/kubelet/envvars.FromServices
(makeEnvVariableName, makeLinkVariables) and the kubelet's getServiceEnvVarMap
(services of the pod's namespace with a cluster IP, plus the master service
`kubernetes` of `default` always). The kubelet passes them through a map, so its
order is arbitrary; ours is by service name, then FromServices' order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.api.types import JSON

MASTER_SERVICES = frozenset({"kubernetes"})  # from `default`, announced in every namespace


@dataclass(frozen=True)
class ServiceInfo:
    """What the env vars need of a service: its name, namespace, cluster IP and ports."""

    name: str
    namespace: str
    cluster_ip: str  # "" or "None": no variables (headless, ExternalName, not allocated)
    ports: tuple[tuple[str, int, str], ...] = ()  # (name, port, protocol) in declared order

    @property
    def ip_set(self) -> bool:
        """v1helper.IsServiceIPSet."""
        return self.cluster_ip not in ("", "None")


def service_info(body: JSON, cluster_ip: str | None = None) -> ServiceInfo:
    """A ServiceInfo from a Service body; `cluster_ip` is the allocated address, if any."""
    meta: Mapping[str, Any] = body.get("metadata") or {}
    spec: Mapping[str, Any] = body.get("spec") or {}
    ip = str(spec.get("clusterIP") or cluster_ip or "")
    if spec.get("type") == "ExternalName":
        ip = ""
    ports = tuple(
        (str(p.get("name") or ""), int(p["port"]), str(p.get("protocol") or "TCP"))
        for p in spec.get("ports") or []
    )
    namespace = str(meta.get("namespace") or "default")
    return ServiceInfo(str(meta.get("name", "")), namespace, ip, ports)


def env_name(name: str) -> str:
    """makeEnvVariableName: upper case, `-` to `_`."""
    return name.replace("-", "_").upper()


def _link_variables(s: ServiceInfo) -> list[tuple[str, str]]:
    prefix = env_name(s.name)
    host = f"[{s.cluster_ip}]" if ":" in s.cluster_ip else s.cluster_ip  # net.JoinHostPort
    out: list[tuple[str, str]] = []
    for i, (_name, port, protocol) in enumerate(s.ports):
        url = f"{protocol.lower()}://{host}:{port}"
        if i == 0:
            out.append((f"{prefix}_PORT", url))  # Docker special-cases the first port
        port_prefix = f"{prefix}_PORT_{port}_{protocol.upper()}"
        out += [
            (port_prefix, url),
            (f"{port_prefix}_PROTO", protocol.lower()),
            (f"{port_prefix}_PORT", str(port)),
            (f"{port_prefix}_ADDR", s.cluster_ip),
        ]
    return out


def from_services(services: Sequence[ServiceInfo]) -> list[tuple[str, str]]:
    """envvars.FromServices over the given services, in the given order."""
    out: list[tuple[str, str]] = []
    for s in services:
        if not s.ip_set or not s.ports:
            continue
        prefix = env_name(s.name)
        out.append((f"{prefix}_SERVICE_HOST", s.cluster_ip))
        out.append((f"{prefix}_SERVICE_PORT", str(s.ports[0][1])))
        for name, port, _protocol in s.ports:
            if name:
                out.append((f"{prefix}_SERVICE_PORT_{env_name(name)}", str(port)))
        out += _link_variables(s)
    return out


def service_env(
    services: Sequence[ServiceInfo], namespace: str, enable_service_links: bool = True
) -> list[tuple[str, str]]:
    """The variables a pod of `namespace` gets: its namespace's services and the master service."""
    chosen: dict[str, ServiceInfo] = {}
    for s in services:
        if not s.ip_set:
            continue
        if s.namespace == "default" and s.name in MASTER_SERVICES:
            chosen.setdefault(s.name, s)
        elif s.namespace == namespace and enable_service_links:
            chosen[s.name] = s
    return from_services([chosen[name] for name in sorted(chosen)])


class _ServiceObject(Protocol):
    @property
    def body(self) -> JSON: ...


class ServiceSource(Protocol):
    """The store's reads that `services_for_env` needs (objects and cluster IPs)."""

    def objects(
        self, kind: str | None = None, namespace: str | None = None
    ) -> Sequence[_ServiceObject]: ...

    def cluster_ips(self) -> dict[str, str]: ...


def services_for_env(store: ServiceSource, namespace: str) -> list[ServiceInfo]:
    """The services a pod of `namespace` may be told about, with their allocated cluster IPs."""
    found: list[ServiceInfo] = []
    # One read of all cluster IPs, not one per Service: this runs on every pod sync.
    ips: dict[str, str] | None = None
    for ns in dict.fromkeys((namespace, "default")):
        for obj in store.objects("Service", ns):
            body = obj.body
            spec: Mapping[str, Any] = body.get("spec") or {}
            meta: Mapping[str, Any] = body.get("metadata") or {}
            if ns != namespace and meta.get("name") not in MASTER_SERVICES:
                continue
            allocated = None
            if not spec.get("clusterIP") and spec.get("type") != "ExternalName":
                owner = f"{meta.get('namespace') or ns}/{meta.get('name', '')}"
                if ips is None:
                    ips = store.cluster_ips()
                allocated = ips.get(owner)
            found.append(service_info(body, allocated))
    return found
