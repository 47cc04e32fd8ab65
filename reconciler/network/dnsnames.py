"""Cluster DNS answers from the service table: which records a name has, or that it is not ours.

Pure: `resolve(table, qname, qtype)` decides; `reconciler.network.dns` does the wire
format and the sockets. Names follow Kubernetes' DNS spec for services:
`NAME.NS.svc.cluster.local` (A of the cluster IP, or of every ready pod of a headless
service), `_PORT._PROTO.NAME.NS.svc.cluster.local` (SRV of named ports),
`HOSTNAME.NAME.NS.svc.cluster.local` (a headless service's pod), CNAME for
ExternalName, PTR (`D.C.B.A.in-addr.arpa`) for cluster IPs and headless services'
pods, `A-B-C-D.NS.pod.cluster.local` for the pods of NS; and, for people typing short
names on the host, `NAME` (namespace default) and `NAME.NS`, and `HOSTNAME.NAME` for a
headless service's pod in the asking pod's namespace (default for any other asker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reconciler.network.model import CLUSTER_DOMAIN, ServiceEntry, ServiceTable

Outcome = Literal["answer", "nxdomain", "forward"]
DEFAULT_NAMESPACE = "default"
TTL = 5
MAX_CHAIN = 8  # ExternalName services pointing at each other: stop a loop


@dataclass(frozen=True)
class Record:
    """One resource record: name, type and its data (rdata as text fields)."""

    name: str
    type: Literal["A", "SRV", "CNAME", "PTR"]
    value: str  # the address, or the CNAME, SRV or PTR target
    port: int = 0  # SRV only
    ttl: int = TTL


@dataclass(frozen=True)
class Resolution:
    """What to answer: records (possibly none: NODATA), NXDOMAIN, or ask the upstream."""

    outcome: Outcome
    answers: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = field(default=())


def _labels(name: str) -> list[str]:
    return [x for x in name.lower().rstrip(".").split(".") if x]


def _addresses(svc: ServiceEntry, fqdn: str) -> list[Record]:
    if svc.type == "ExternalName":
        return [Record(fqdn, "CNAME", svc.external_name.rstrip(".") + ".")]
    if svc.headless:
        ips = sorted({ep.ip for ep in svc.addresses})
        return [Record(fqdn, "A", ip) for ip in ips]
    return [Record(fqdn, "A", svc.cluster_ip)] if svc.cluster_ip else []


def _service_answer(
    svc: ServiceEntry, qname: str, qtype: str, domain: str, table: ServiceTable, depth: int
) -> Resolution:
    records = _addresses(svc, qname)
    if records and records[0].type == "CNAME":
        # Pods' stub resolvers do not ask again for a CNAME's target: as CoreDNS does,
        # follow it when it is a cluster name (dns.py forwards for names outside).
        target = records[0].value
        if _labels(target)[-len(_labels(domain)):] == _labels(domain) and depth < MAX_CHAIN:
            chased = resolve(table, target, qtype, domain, _depth=depth + 1)
            return Resolution("answer", (*records, *chased.answers), chased.additional)
        return Resolution("answer", tuple(records))
    if qtype in ("A", "ANY"):
        return Resolution("answer", tuple(records))
    return Resolution("answer")  # the name exists, not with this type


def _srv(
    svc: ServiceEntry, port_label: str, proto_label: str, qname: str, domain: str
) -> Resolution:
    fqdn = svc.fqdn(domain) + "."
    answers: list[Record] = []
    extra: list[Record] = []
    for port in svc.ports:
        if not port.name or f"_{port.name.lower()}" != port_label:
            continue
        if f"_{port.protocol.lower()}" != proto_label:
            continue
        if svc.headless:
            # One target per ready pod, as Kubernetes names them: HOSTNAME.svc-fqdn.
            for ep in sorted(port.endpoints):
                host = f"{(ep.hostname or ep.ip.replace('.', '-')).lower()}.{fqdn}"
                answers.append(Record(qname, "SRV", host, ep.port))
                extra.append(Record(host, "A", ep.ip))
        else:
            answers.append(Record(qname, "SRV", fqdn, port.port))
            extra.extend(r for r in _addresses(svc, fqdn) if r.type == "A")
    if not answers:
        return Resolution("nxdomain")
    return Resolution("answer", tuple(answers), tuple(dict.fromkeys(extra)))


def _pod_of_headless(svc: ServiceEntry, host: str, qname: str) -> Resolution:
    for ep in svc.addresses:
        if host in ((ep.hostname or "").lower(), ep.ip.replace(".", "-")):
            return Resolution("answer", (Record(qname, "A", ep.ip),))
    return Resolution("nxdomain")


def _short_pod_name(
    table: ServiceTable, host: str, svc_name: str, qname: str, qtype: str, client_ip: str
) -> Resolution:
    """HOSTNAME.SVC sent as is: a headless service's pod in the asking pod's namespace
    (default when the asker is not a known pod), or not ours.

    A resolver that follows ndots tries HOSTNAME.SVC.NS.svc.cluster.local first, so
    this only answers clients that send a dotted name without the search list: busybox's
    own nslookup (after 1.28) does, so `nslookup web-0.nginx` from a pod, the check of
    Kubernetes' StatefulSet tutorial, would otherwise be NXDOMAIN.
    """
    svc = table.get(table.namespace_of(client_ip) or DEFAULT_NAMESPACE, svc_name)
    if svc is None or not svc.headless:
        return Resolution("forward")
    res = _pod_of_headless(svc, host, qname)
    if res.outcome != "answer":
        return Resolution("forward")
    return res if qtype in ("A", "ANY") else Resolution("answer")


def _pod_address(table: ServiceTable, dashed: str, ns: str, qname: str, qtype: str) -> Resolution:
    """A-B-C-D.NS.pod.cluster.local: the pod's A record, when a pod of NS has that address
    (CoreDNS' `pods verified`; `pods insecure` would answer any address)."""
    ip = dashed.replace("-", ".")
    if table.namespace_of(ip) != ns:
        return Resolution("nxdomain")
    return Resolution("answer", (Record(qname, "A", ip),) if qtype in ("A", "ANY") else ())


def _reverse(table: ServiceTable, labels: list[str], qname: str, qtype: str,
             domain: str) -> Resolution:
    """D.C.B.A.in-addr.arpa: a cluster IP names its service, a headless service's ready
    pod its per-pod name (the DNS spec's PTR records); other addresses are not ours."""
    ip = ".".join(reversed(labels[:4]))
    targets: list[str] = []
    for svc in table.services:
        if svc.proxied and svc.cluster_ip == ip:
            targets.append(svc.fqdn(domain) + ".")
        elif svc.headless:
            targets.extend(f"{(ep.hostname or ip.replace('.', '-')).lower()}."
                           f"{svc.fqdn(domain)}." for ep in svc.addresses if ep.ip == ip)
    if not targets:
        return Resolution("forward")
    if qtype not in ("PTR", "ANY"):
        return Resolution("answer")
    return Resolution("answer", tuple(Record(qname, "PTR", t) for t in dict.fromkeys(targets)))


def resolve(
    table: ServiceTable,
    qname: str,
    qtype: str,
    domain: str = CLUSTER_DOMAIN,
    _depth: int = 0,
    *,
    client_ip: str = "",
) -> Resolution:
    """The answer to (qname, qtype) from the cluster, or "forward" for names outside it.

    `client_ip` is the asker's address, for the one form read relative to its namespace.
    """
    labels = _labels(qname)
    dom = _labels(domain)
    name = ".".join(labels) + "."
    if len(labels) == 6 and labels[4:] == ["in-addr", "arpa"]:
        return _reverse(table, labels, name, qtype, domain)
    if labels[-len(dom):] != dom or len(labels) < len(dom):
        # Short names, as a person on the host types them; anything else is not ours.
        if len(labels) in (1, 2):
            ns = labels[1] if len(labels) == 2 else DEFAULT_NAMESPACE
            svc = table.get(ns, labels[0])
            if svc is not None:
                return _service_answer(svc, name, qtype, domain, table, _depth)
        if len(labels) == 2:
            return _short_pod_name(table, labels[0], labels[1], name, qtype, client_ip)
        return Resolution("forward")
    rest = labels[: -len(dom)]
    if len(rest) == 3 and rest[-1] == "pod":
        return _pod_address(table, rest[0], rest[1], name, qtype)
    # rest is [..., NAME, NS, "svc"] for services; anything else inside the domain is unknown.
    if len(rest) < 3 or rest[-1] != "svc":
        # "svc.cluster.local", "ns.svc.cluster.local" and "cluster.local" exist as
        # zones without records; answering NXDOMAIN there would cut the search list short.
        if rest in ([], ["svc"]) or (len(rest) == 2 and rest[-1] == "svc"):
            return Resolution("answer")
        return Resolution("nxdomain")
    svc_name, ns = rest[-3], rest[-2]
    svc = table.get(ns, svc_name)
    if svc is None:
        return Resolution("nxdomain")
    prefix = rest[:-3]
    if not prefix:
        return _service_answer(svc, name, qtype, domain, table, _depth)
    if len(prefix) == 2 and prefix[0].startswith("_") and prefix[1].startswith("_"):
        if qtype not in ("SRV", "ANY"):
            return Resolution("answer")
        return _srv(svc, prefix[0], prefix[1], name, domain)
    if len(prefix) == 1 and svc.headless:
        res = _pod_of_headless(svc, prefix[0], name)
        if res.outcome == "answer" and qtype not in ("A", "ANY"):
            return Resolution("answer")
        return res
    return Resolution("nxdomain")
