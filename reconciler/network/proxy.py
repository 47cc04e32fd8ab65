"""The service proxy of one Docker host (kube-proxy's job), driven by `update(table)`.

Fed by `reconciler proxy` (reconciler/cli/proxy.py) or by `reconciler run` for the
local host, both from the store through `reconciler.network.feed.build_table`.
It puts cluster IPs on lo (`hostnet`), then serves them either with kernel NAT
rules (`iptables`, the fast path) or with userspace listeners (`userspace`), and
falls back to userspace by itself when rules cannot be installed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Literal

from reconciler.network import hostnet
from reconciler.network.iptables import Iptables, IptablesError
from reconciler.network.model import ServiceTable
from reconciler.network.tcp import MAX_CONNECTIONS, MAX_SESSIONS, PortStats
from reconciler.network.udp import DEFAULT_IDLE_TIMEOUT
from reconciler.network.userspace import UserspaceProxier

log = logging.getLogger(__name__)

Mode = Literal["iptables", "userspace"]


class ServiceProxy:
    """Serves a `ServiceTable` on this host; `close()` leaves it installed, `cleanup()` not."""

    def __init__(
        self,
        node_name: str,
        mode: Mode = "iptables",
        *,
        udp_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        bridge: str = "docker0",
        iptables: Iptables | None = None,
        max_connections: int = MAX_CONNECTIONS,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.node_name = node_name
        self.requested_mode: Mode = mode
        self.mode: Mode = mode
        self.fallback_reason = ""  # why iptables mode was abandoned, when it was
        self.bridge = bridge
        self.udp_idle_timeout = udp_idle_timeout
        self.max_connections = max_connections  # userspace mode, per service
        self.max_sessions = max_sessions
        self._iptables = iptables or Iptables()
        self._localnet = hostnet.RouteLocalnet()
        self._hairpin = hostnet.Hairpin(bridge)
        self._userspace: UserspaceProxier | None = None
        self._table: ServiceTable | None = None
        self._cleared = False
        self._lock = threading.Lock()
        if mode == "iptables":
            reason = self._iptables.available()
            if reason is not None:
                self._fall_back(reason)

    @property
    def table(self) -> ServiceTable | None:
        return self._table

    def update(self, table: ServiceTable) -> None:
        """Converge this host to `table`: addresses, then rules or listeners."""
        with self._lock:
            hostnet.sync_addresses(set(table.cluster_ips()))
            local = hostnet.local_addresses()
            if self.mode == "iptables":
                try:
                    self._sync_iptables(table, local)
                except (IptablesError, OSError) as exc:
                    self._fall_back(str(exc))
            if self.mode == "userspace":
                if self._userspace is None:
                    self._userspace = UserspaceProxier(
                        self.node_name, udp_idle_timeout=self.udp_idle_timeout,
                        max_connections=self.max_connections, max_sessions=self.max_sessions,
                    )
                self._userspace.update(table, local)
                self._clear_predecessor_rules()
            self._table = table

    def resync(self) -> None:
        """Apply the last table again: repairs rules or addresses someone removed."""
        if self._table is not None:
            self.update(self._table)

    def stats(self) -> dict[str, PortStats]:
        """Userspace counters per service port; empty in iptables mode (the kernel counts)."""
        return self._userspace.stats() if self._userspace is not None else {}

    def counters(self) -> dict[str, tuple[int, int | None, int | None, int | None]]:
        """(connections, bytes in, bytes out, capped) per service port ("ns/name:port/PROTO").

        Userspace mode counts everything itself; in iptables mode the kernel's nat
        counters give connections, and bytes and caps are not known (None).
        """
        if self.mode == "userspace":
            return {k: (s.connections, s.bytes_in, s.bytes_out, s.capped)
                    for k, s in self.stats().items()}
        try:
            return {k: (n, None, None, None)
                    for k, n in self._iptables.connection_counts().items()}
        except (IptablesError, OSError):
            return {}

    def close(self) -> None:
        """Stop this process's part (userspace listeners); rules and addresses stay in force.

        As kube-proxy's rules outlive kube-proxy: a successor (the service restarted,
        or the instance that took the lease) takes them over with its first update,
        which replaces them in one transaction. `cleanup()` removes them.
        """
        with self._lock:
            if self._userspace is not None:
                self._userspace.close()
                self._userspace = None
            self._table = None

    def cleanup(self) -> None:
        """Remove our rules, listeners and addresses, and restore route_localnet."""
        self.close()
        with self._lock:
            remove_host_state(self._iptables, self._localnet)

    def _sync_iptables(self, table: ServiceTable, local: set[str]) -> None:
        if any(p.node_port for s in table.proxied() for p in s.ports):
            self._localnet.enable()
        self._iptables.sync(table, self.node_name, local)
        self._hairpin.ensure()

    def _clear_predecessor_rules(self) -> None:
        # A predecessor in iptables mode left its DNAT rules: they would catch the
        # traffic before our listeners see it. Removed once our listeners are up.
        if self._cleared:
            return
        self._cleared = True
        if self._iptables.available() is None:
            with contextlib.suppress(IptablesError, OSError):
                self._iptables.cleanup()

    def _fall_back(self, reason: str) -> None:
        log.warning("iptables mode unavailable (%s): using the userspace proxy", reason)
        self.fallback_reason = reason
        self.mode = "userspace"
        with contextlib.suppress(IptablesError, OSError):
            self._iptables.cleanup()


def remove_host_state(iptables: Iptables | None = None,
                      localnet: hostnet.RouteLocalnet | None = None) -> None:
    """Remove every RECONCILER-* chain, our cluster addresses and the service range's
    unreachable route; restore route_localnet.

    What `reconciler proxy --cleanup` and `ServiceProxy.cleanup` do; touches only what
    carries our names and labels.
    """
    iptables = iptables or Iptables()
    if iptables.available() is None:
        try:
            iptables.cleanup()
        except (IptablesError, OSError) as exc:
            log.warning("could not remove iptables rules: %s", exc)
    (localnet or hostnet.RouteLocalnet()).restore()
    try:
        hostnet.sync_addresses(set())
        hostnet.remove_guards()
    except OSError as exc:
        log.warning("could not remove cluster addresses: %s", exc)
