"""A `ServiceTable` as JSON: what the service hands to the detached DNS server (dnsd.py).

The DNS server runs in a process of its own so that it answers while the service
restarts; the service writes the table it would have served into a file
(`DetachedDns.update`) and the server reads it back with `load`. Plain data both
ways: the file is replaced atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

from reconciler.network.model import (
    Affinity,
    Endpoint,
    Protocol,
    ServiceEntry,
    ServicePort,
    ServiceTable,
    ServiceType,
)

FORMAT = 1


def _endpoint(e: Endpoint) -> list[Any]:
    return [e.ip, e.port, e.node, e.host_ip, e.host_port, e.hostname]


def _endpoint_from(v: list[Any]) -> Endpoint:
    return Endpoint(str(v[0]), int(v[1]), str(v[2]), str(v[3]), int(v[4]), str(v[5]))


def to_json(table: ServiceTable) -> str:
    """The table as one JSON document."""
    services = [
        {
            "namespace": s.namespace, "name": s.name, "type": s.type,
            "cluster_ip": s.cluster_ip, "external_ips": list(s.external_ips),
            "session_affinity": s.session_affinity, "affinity_timeout": s.affinity_timeout,
            "external_name": s.external_name,
            "addresses": [_endpoint(e) for e in s.addresses],
            "ports": [
                {"port": p.port, "protocol": p.protocol, "name": p.name,
                 "node_port": p.node_port, "endpoints": [_endpoint(e) for e in p.endpoints]}
                for p in s.ports
            ],
        }
        for s in table.services
    ]
    return json.dumps({
        "format": FORMAT,
        "services": services,
        "extra_addresses": list(table.extra_addresses),
        "pod_namespaces": [list(p) for p in table.pod_namespaces],
        "pod_hosts": [list(p) for p in table.pod_hosts],
    }, separators=(",", ":"))


def from_json(text: str) -> ServiceTable:
    """The table `to_json` wrote (ValueError when it is not one)."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a service table snapshot of a known format")
    services = tuple(
        ServiceEntry(
            namespace=s["namespace"], name=s["name"], type=cast(ServiceType, s["type"]),
            cluster_ip=s["cluster_ip"],
            ports=tuple(
                ServicePort(int(p["port"]), cast(Protocol, p["protocol"]), p["name"],
                            int(p["node_port"]), tuple(_endpoint_from(e) for e in p["endpoints"]))
                for p in s["ports"]
            ),
            external_ips=tuple(s["external_ips"]),
            session_affinity=cast(Affinity, s["session_affinity"]),
            affinity_timeout=int(s["affinity_timeout"]),
            external_name=s["external_name"],
            addresses=tuple(_endpoint_from(e) for e in s["addresses"]),
        )
        for s in data["services"]
    )
    return ServiceTable(
        services,
        tuple(data["extra_addresses"]),
        tuple((str(a), str(b)) for a, b in data["pod_namespaces"]),
        tuple((str(a), str(b), str(c)) for a, b, c in data["pod_hosts"]),
    )


def write(path: Path, table: ServiceTable) -> None:
    """Replace `path` with the table, atomically (write aside, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(to_json(table))
    os.replace(tmp, path)


def load(path: Path) -> ServiceTable:
    return from_json(path.read_text())
