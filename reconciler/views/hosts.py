"""Which Host headers the front ends answer: their address and loopback names (DNS rebinding).

Used by `reconciler.ui.app`'s HostGuard middleware, for pages and `/api/` alike, and
by the Kubernetes API's `reconciler.kubeapi.auth` (here, below both front ends). A
page on any web site can make a browser resolve its own name to 127.0.0.1 (DNS
rebinding) and then read the dashboard as if same-origin; the browser still sends
that site's name as Host. So only names that cannot be rebound are answered: an IP
literal (no DNS involved), `localhost` and `*.localhost` (browsers resolve them to
loopback themselves, RFC 6761), the host the dashboard was told to listen on, and,
when it listens on every address, this machine's own host names.
"""

from __future__ import annotations

import ipaddress
import socket

WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def split_host(header: str) -> str:
    """The name of a Host header, lowercased, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def allowed_names(bound_host: str) -> frozenset[str]:
    """The host names answered besides IP literals and localhost, for a bind address."""
    names = {split_host(bound_host)} - WILDCARDS
    if bound_host in WILDCARDS:
        # Reached from other machines by this machine's name: those names are ours.
        for name in (socket.gethostname(), socket.getfqdn()):
            names.add(name.lower().rstrip("."))
    return frozenset(n for n in names if n)


def host_allowed(header: str, names: frozenset[str]) -> bool:
    """True when a request with Host `header` may be answered (see the module docstring)."""
    host = split_host(header)
    if not host:
        return False  # HTTP/1.1 requires Host; a request without one is not a browser's
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return host == "localhost" or host.endswith(".localhost") or host in names
