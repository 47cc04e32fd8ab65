"""Semantic rules for Services, Endpoints and Nodes (the Docker hosts).

Called by reconciler.manifests.semantic on defaulted bodies. Findings carry
paths relative to the object.
"""

from __future__ import annotations

import ipaddress

from reconciler.api.defaults import NODE_PORT_RANGE
from reconciler.api.types import JSON
from reconciler.manifests import names
from reconciler.manifests.fields import Finding, Path_

# The annotation that accepts a plain tcp:// engine (no TLS) on a Node, knowingly.
INSECURE_ENGINE = "reconciler.dev/insecure-engine"


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_ports_named(ports: list[JSON], path: Path_) -> list[Finding]:
    """Several ports need unique names; a Service or Endpoints port name is a DNS-1123 label
    (Kubernetes' validateServicePort), unlike a container port name (an IANA service name)."""
    out: list[Finding] = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        name = port.get("name")
        if len(ports) > 1 and not name:
            out.append(Finding("error", (*path, i),
                               "every port needs a name when there are several"))
            continue
        if name:
            problem = names.dns1123_label(name)
            if problem:
                out.append(Finding("error", (*path, i, "name"), problem))
            elif name in seen:
                out.append(Finding("error", (*path, i, "name"), f"duplicate port name {name!r}"))
            seen.add(name)
    return out


def check_service(spec: JSON) -> list[Finding]:
    """Ports, type-specific fields and addresses of a Service spec."""
    out: list[Finding] = []
    kind = spec["type"]
    ports = spec.get("ports") or []
    if kind == "ExternalName":
        external = spec.get("externalName")
        if not external:
            out.append(Finding("error", ("spec", "externalName"),
                               "an ExternalName Service needs spec.externalName"))
        else:
            problem = names.dns1123_subdomain(str(external).rstrip("."))
            if problem:
                out.append(Finding("error", ("spec", "externalName"), problem))
        return out
    if not ports and spec.get("clusterIP") != "None":
        out.append(Finding("error", ("spec", "ports"), "a Service needs at least one port"))
    out += _check_ports_named(ports, ("spec", "ports"))
    seen: set[tuple[int, str]] = set()
    for i, port in enumerate(ports):
        where = ("spec", "ports", i)
        key = (port["port"], port["protocol"])
        if key in seen:
            out.append(Finding("error", (*where, "port"), f"duplicate port {key[0]}/{key[1]}"))
        seen.add(key)
        target = port.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            out.append(Finding("error", (*where, "targetPort"),
                               f"targetPort {target} is out of range 1-65535"))
        elif isinstance(target, str) and not target.isdigit():
            problem = names.port_name(target)
            if problem:
                out.append(Finding("error", (*where, "targetPort"), problem))
        node_port = port.get("nodePort")
        if node_port is not None:
            if kind not in ("NodePort", "LoadBalancer"):
                out.append(Finding("error", (*where, "nodePort"),
                                   f"nodePort is only allowed with type NodePort (type is {kind})"))
            elif not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
                low, high = NODE_PORT_RANGE
                out.append(Finding("error", (*where, "nodePort"),
                                   f"nodePort {node_port} is outside the range {low}-{high}"))
    cluster_ip = spec.get("clusterIP")
    if cluster_ip not in (None, "", "None") and not _ip(str(cluster_ip)):
        out.append(Finding("error", ("spec", "clusterIP"),
                           f"clusterIP {cluster_ip!r} is not an IP address (or None)"))
    if cluster_ip == "None" and kind != "ClusterIP":
        out.append(Finding("error", ("spec", "clusterIP"),
                           "a headless Service (clusterIP None) must be of type ClusterIP"))
    for i, address in enumerate(spec.get("externalIPs") or []):
        if not _ip(address):
            out.append(Finding("error", ("spec", "externalIPs", i),
                               f"{address!r} is not an IP address"))
    if kind == "LoadBalancer":
        out.append(Finding("warning", ("spec", "type"),
                           "type LoadBalancer is served as NodePort: there is no external "
                           "load balancer"))
    return out


def check_endpoints(body: JSON) -> list[Finding]:
    """Addresses and ports of a hand-written Endpoints object."""
    out: list[Finding] = []
    for s, subset in enumerate(body.get("subsets") or []):
        for group in ("addresses", "notReadyAddresses"):
            for a, address in enumerate(subset.get(group) or []):
                if not _ip(address["ip"]):
                    out.append(Finding("error", ("subsets", s, group, a, "ip"),
                                       f"{address['ip']!r} is not an IP address"))
        out += _check_ports_named(subset.get("ports") or [], ("subsets", s, "ports"))
    return out


def check_node(spec: JSON, annotations: JSON | None = None) -> list[Finding]:
    """Engine URL, address, TLS files and capacity of a Docker host."""
    out: list[Finding] = []
    engine = spec["engine"]
    problem = names.engine_url(engine)
    if problem:
        out.append(Finding("error", ("spec", "engine"), problem))
    elif engine.startswith("tcp://") and not spec.get("tls") \
            and str((annotations or {}).get(INSECURE_ENGINE, "")).lower() != "true":
        out.append(Finding("error", ("spec", "engine"),
                           f"engine {engine!r} has no tls: whoever reaches that port is root on "
                           "the host; give spec.tls (ca, cert, key), or allow it explicitly "
                           f'with the annotation {INSECURE_ENGINE}: "true"'))
    address = spec.get("address")
    if address is not None and not _ip(address):
        out.append(Finding("error", ("spec", "address"), f"{address!r} is not an IP address"))
    tls = spec.get("tls")
    if tls and not engine.startswith("tcp://"):
        out.append(Finding("warning", ("spec", "tls"), "tls applies to tcp:// engines only; "
                           "ignored"))
    if tls and bool(tls.get("cert")) != bool(tls.get("key")):
        out.append(Finding("error", ("spec", "tls"), "give both cert and key, or neither"))
    for name, value in (spec.get("capacity") or {}).items():
        problem = names.quantity(value)
        if problem:
            out.append(Finding("error", ("spec", "capacity", name), problem))
    return out
