"""Renders the service table as an `iptables-restore --noflush` input: the kernel NAT fast path.

Pure: `render(...)` turns a `ServiceTable`, the proxy's node name, the host's local
addresses and the current `iptables-save` text into one atomic ruleset;
`reconciler.network.iptables` feeds it to the kernel. The shape is kube-proxy's
iptables mode: per service port a RECONCILER-SVC-* chain picking an endpoint with
`statistic --mode random` (probability 1/n, 1/(n-1), ..., 1), per endpoint a
RECONCILER-SEP-* chain doing the DNAT, the `recent` module for ClientIP affinity,
and a mark that RECONCILER-POSTROUTING turns into a MASQUERADE. Only chains named
RECONCILER-* are ever written, flushed or deleted, plus our own jump rules.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.network.model import ServiceEntry, ServicePort, ServiceTable

PREFIX = "RECONCILER-"
SERVICES = "RECONCILER-SERVICES"
NODEPORTS = "RECONCILER-NODEPORTS"
POSTROUTING = "RECONCILER-POSTROUTING"
MARK_MASQ = "RECONCILER-MARK-MASQ"
FORWARD = "RECONCILER-FORWARD"
FIREWALL = "RECONCILER-FIREWALL"
MASQ_MARK = "0x4000/0x4000"

# (table, built-in chain, rule spec) of the jumps into our chains. Inserted first so a
# Docker-published port equal to a service port never shadows the service.
JUMPS: tuple[tuple[str, str, str], ...] = (
    ("nat", "PREROUTING", f'-m comment --comment "reconciler service portals" -j {SERVICES}'),
    ("nat", "OUTPUT", f'-m comment --comment "reconciler service portals" -j {SERVICES}'),
    ("nat", "POSTROUTING", f'-m comment --comment "reconciler postrouting" -j {POSTROUTING}'),
    ("filter", "FORWARD", f'-m comment --comment "reconciler forward" -j {FORWARD}'),
    ("filter", "INPUT", f'-m comment --comment "reconciler firewall" -j {FIREWALL}'),
    ("filter", "OUTPUT", f'-m comment --comment "reconciler firewall" -j {FIREWALL}'),
)


def _hash(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return base64.b32encode(digest).decode()[:12]


_COUNTED = re.compile(
    rf'^\[(\d+):\d+\] -A (?:{SERVICES}|{NODEPORTS}) .*--comment "?([^" ]+)"? .*-j {PREFIX}SVC-'
)


def connection_counts(save_c: str) -> dict[str, int]:
    """New connections per service port, from `iptables-save -c -t nat` output.

    The nat table sees only the first packet of each connection, so the packet
    counter of a service's jump rules counts its connections (bytes it cannot).
    """
    counts: dict[str, int] = {}
    for line in save_c.splitlines():
        m = _COUNTED.match(line)
        if m:
            counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
    return counts


def port_id(svc: ServiceEntry, port: ServicePort) -> str:
    return f"{svc.namespace}/{svc.name}:{port.name or port.port}/{port.protocol}"


def svc_chain(svc: ServiceEntry, port: ServicePort) -> str:
    return f"{PREFIX}SVC-{_hash(port_id(svc, port))}"


def ext_chain(svc: ServiceEntry, port: ServicePort) -> str:
    return f"{PREFIX}EXT-{_hash(port_id(svc, port))}"


def sep_chain(svc: ServiceEntry, port: ServicePort, backend: str) -> str:
    return f"{PREFIX}SEP-{_hash(port_id(svc, port), backend)}"


@dataclass(frozen=True)
class Saved:
    """What `iptables-save` shows of the tables we touch: chains and rules per table."""

    chains: dict[str, frozenset[str]]
    rules: dict[str, frozenset[str]]  # "-A CHAIN ..." lines as printed


def parse_save(text: str) -> Saved:
    """Read `iptables-save` output into chains and rule lines per table."""
    chains: dict[str, set[str]] = {}
    rules: dict[str, set[str]] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            chains.setdefault(table, set())
            rules.setdefault(table, set())
        elif line.startswith(":") and table:
            chains[table].add(line[1:].split()[0])
        elif line.startswith("-A ") and table:
            rules[table].add(line.strip())
    return Saved(
        {t: frozenset(c) for t, c in chains.items()}, {t: frozenset(r) for t, r in rules.items()}
    )


def _jump_present(saved: Saved, table: str, chain: str, target: str) -> bool:
    return any(
        r.startswith(f"-A {chain} ") and r.endswith(f"-j {target}")
        for r in saved.rules.get(table, frozenset())
    )


def _probability(i: int, n: int) -> str:
    return f"{1.0 / (n - i):0.10f}"


def _service_rules(
    svc: ServiceEntry, port: ServicePort, node_name: str, local_ips: frozenset[str],
    chains: list[str], rules: list[str],
) -> None:
    proto = port.protocol.lower()
    svc_c, ext_c = svc_chain(svc, port), ext_chain(svc, port)
    chains += [svc_c, ext_c]
    comment = f'-m comment --comment "{port_id(svc, port)}"'
    rules.append(
        f"-A {SERVICES} -d {svc.cluster_ip}/32 -p {proto} -m {proto} --dport {port.port} "
        f"{comment} -j {svc_c}"
    )
    # Traffic arriving from outside (NodePort, externalIPs) may come from anywhere:
    # masquerade it so replies come back through this host's conntrack entry.
    rules.append(f"-A {ext_c} -j {MARK_MASQ}")
    rules.append(f"-A {ext_c} -j {svc_c}")
    if port.node_port:
        rules.append(
            f"-A {NODEPORTS} -p {proto} -m {proto} --dport {port.node_port} {comment} -j {ext_c}"
        )
    for ip in svc.external_ips:
        if ip in local_ips:  # an externalIP not on this host is not ours to answer
            rules.append(
                f"-A {SERVICES} -d {ip}/32 -p {proto} -m {proto} --dport {port.port} "
                f"{comment} -j {ext_c}"
            )
    eps = [(ep, ep.backend(node_name)) for ep in sorted(port.endpoints)]
    by_backend = {str(b): ep for ep, b in eps if b is not None}
    backends = sorted(by_backend)
    seps = [sep_chain(svc, port, b) for b in backends]
    chains += seps
    affinity = svc.session_affinity == "ClientIP"
    if affinity:
        for sep in seps:
            rules.append(
                f"-A {svc_c} -m recent --name {sep} --mask 255.255.255.255 --rsource --rcheck "
                f"--seconds {svc.affinity_timeout} --reap -j {sep}"
            )
    for i, sep in enumerate(seps):
        if i < len(seps) - 1:
            rules.append(
                f"-A {svc_c} -m statistic --mode random --probability "
                f"{_probability(i, len(seps))} -j {sep}"
            )
        else:
            rules.append(f"-A {svc_c} -j {sep}")
    for backend, sep in zip(backends, seps, strict=True):
        ep = by_backend[backend]
        if ep.is_remote(node_name) or not ep.node:
            # Off this host's bridge: the far side must answer to this host.
            rules.append(f"-A {sep} -j {MARK_MASQ}")
        else:
            # A pod reaching itself through its service (hairpin) needs its source rewritten.
            rules.append(f"-A {sep} -s {ep.ip}/32 -j {MARK_MASQ}")
        recent = (
            f"-m recent --name {sep} --mask 255.255.255.255 --rsource --set " if affinity else ""
        )
        rules.append(f"-A {sep} -p {proto} {recent}-m {proto} -j DNAT --to-destination {backend}")


def render(
    table: ServiceTable, node_name: str, local_ips: Iterable[str], saved: Saved
) -> str:
    """The `iptables-restore --noflush` input converging the kernel to `table`.

    Declaring a chain flushes it; chains of ours that the new table no longer needs
    are flushed and deleted in the same transaction, so the switch is atomic.
    """
    local = frozenset(local_ips)
    nat_chains = [SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ]
    nat_rules: list[str] = [
        f"-A {MARK_MASQ} -j MARK --set-xmark {MASQ_MARK}",
        f"-A {POSTROUTING} -m mark ! --mark {MASQ_MARK} -j RETURN",
        # Clear the mark: a packet traversing again (hairpin) is not masqueraded twice.
        f"-A {POSTROUTING} -j MARK --xor-mark 0x4000",
        f"-A {POSTROUTING} -j MASQUERADE",
    ]
    for svc in table.proxied():
        for port in svc.ports:
            if port.protocol in ("TCP", "UDP"):
                _service_rules(svc, port, node_name, local, nat_chains, nat_rules)
    # Last, so cluster IPs match first: any local address is a NodePort address.
    nat_rules.append(f"-A {SERVICES} -m addrtype --dst-type LOCAL -j {NODEPORTS}")

    filter_chains = [FORWARD, FIREWALL]
    filter_rules = [
        # Docker's FORWARD policy is DROP; let DNAT'd service traffic (marked) through.
        f"-A {FORWARD} -m mark --mark {MASQ_MARK} -j ACCEPT",
        f"-A {FORWARD} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        # route_localnet=1 (for NodePorts on 127.0.0.1) must not let outsiders reach
        # loopback services: kube-proxy's CVE-2020-8558 guard.
        f"-A {FIREWALL} ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "
        '"block incoming localnet connections" -m conntrack ! --ctstate '
        "RELATED,ESTABLISHED,DNAT -j DROP",
    ]
    out: list[str] = []
    tables = (("filter", filter_chains, filter_rules), ("nat", nat_chains, nat_rules))
    for name, chains, rules in tables:
        present = saved.chains.get(name, frozenset())
        stale = sorted(c for c in present if c.startswith(PREFIX) and c not in chains)
        out.append(f"*{name}")
        out += [f":{c} - [0:0]" for c in dict.fromkeys(chains)]
        out += [f":{c} - [0:0]" for c in stale]
        out += rules
        for t, builtin, spec in JUMPS:
            target = spec.rsplit(" ", 1)[1]
            if t == name and not _jump_present(saved, t, builtin, target):
                out.append(f"-I {builtin} 1 {spec}")
        out += [f"-X {c}" for c in stale]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def render_cleanup(saved: Saved) -> tuple[str, list[tuple[str, str, str]]]:
    """A restore input deleting every RECONCILER-* chain, and the jump rules to delete first.

    Jumps are deleted with `iptables -D` before the restore: a chain still
    referenced cannot be deleted.
    """
    jumps = [
        (t, builtin, spec) for t, builtin, spec in JUMPS
        if _jump_present(saved, t, builtin, spec.rsplit(" ", 1)[1])
    ]
    out: list[str] = []
    for name in ("filter", "nat"):
        ours = sorted(c for c in saved.chains.get(name, frozenset()) if c.startswith(PREFIX))
        if not ours:
            continue
        out.append(f"*{name}")
        out += [f":{c} - [0:0]" for c in ours]
        out += [f"-X {c}" for c in ours]
        out.append("COMMIT")
    return ("\n".join(out) + "\n" if out else ""), jumps
