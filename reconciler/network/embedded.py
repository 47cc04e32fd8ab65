"""The proxy and DNS of one host, fed from the store by a polling thread.

What `reconciler run` starts for the local host (reconciler/service/app.py) and what
`reconciler proxy --node NAME` runs on another host: every `interval` seconds it
builds the table (`feed.build_table`) and, when it changed, hands it to
`ServiceProxy.update` and the DNS server (`dnsproc.DetachedDns`, a process of
its own), and keeps the routes to other hosts' pods (`podroutes`). A periodic
resync repairs rules, addresses, routes or a DNS server that someone else removed.

What it installs outlives it: `close()` stops the loop and leaves rules, cluster
IPs, routes and the DNS server in place for a successor, which takes them over
with its first sync (an unchanged table is replaced in one atomic restore, so no
packet meets a missing rule). `cleanup()` (and `cleanup_host`, behind
`reconciler proxy --cleanup`) removes everything.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, Protocol

from reconciler.network import hostnet
from reconciler.network.dnsproc import DetachedDns, stop_all
from reconciler.network.feed import build_table
from reconciler.network.model import CLUSTER_DOMAIN, ServiceTable
from reconciler.network.podroutes import PodRoutes
from reconciler.network.proxy import Mode, ServiceProxy, remove_host_state

log = logging.getLogger(__name__)

RESYNC_EVERY = 30.0


class _NetworkSettings(Protocol):
    proxy_mode: str
    dns_ip: str
    dns_port: int
    cluster_domain: str
    service_cidr: str


class EmbeddedProxy:
    """ServiceProxy + DNS server + the loop feeding them; `close()` leaves what they installed."""

    def __init__(
        self,
        store: Any,
        node_name: str,
        mode: Mode = "iptables",
        dns_ip: str = "10.96.0.10",
        dns_port: int = 53,
        domain: str = CLUSTER_DOMAIN,
        interval: float = 0.5,
        service_cidr: str = "",
    ) -> None:
        self.store = store
        self.node_name = node_name
        self.dns_ip = dns_ip
        self.interval = interval
        self.proxy = ServiceProxy(node_name, mode)
        self.routes = PodRoutes(node_name)
        self.dns: DetachedDns | None = None
        self.table: ServiceTable | None = None
        self.errors = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last_resync = time.monotonic()
        self.service_cidr = service_cidr
        self._guard()
        # The DNS address must be on lo before the server can bind it.
        self.sync_once()
        if dns_ip:
            try:
                self.dns = DetachedDns(dns_ip, dns_port, domain=domain)
                if self.table is not None:
                    self.dns.update(self.table)
            except OSError as exc:  # service traffic does not need DNS: keep proxying
                log.error("proxy %s: DNS on %s:%d not started: %s", node_name, dns_ip,
                          dns_port, exc)
                self.dns = None
        self._thread = threading.Thread(target=self._run, name=f"proxy-{node_name}", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, store: Any, node_name: str, config: Any) -> EmbeddedProxy:
        """From the service's Config (its `network` section)."""
        net: _NetworkSettings = config.network
        mode: Mode = "userspace" if net.proxy_mode == "userspace" else "iptables"
        return cls(store, node_name, mode, net.dns_ip, net.dns_port, net.cluster_domain,
                   service_cidr=net.service_cidr)

    @property
    def mode(self) -> str:
        return self.proxy.mode

    def sync_once(self) -> bool:
        """Read the store and apply what changed; True when the table changed."""
        table = build_table(self.store, self.node_name, self.dns_ip)
        if table == self.table:
            if time.monotonic() - self._last_resync > RESYNC_EVERY:
                self._last_resync = time.monotonic()
                self.proxy.resync()
                self._guard()
                self._sync_routes(table)
                if self.dns is not None:
                    self.dns.ensure()
            return False
        # Pods come and go far more often than services: their addresses matter to DNS
        # only, so a pod start alone does not rewrite the rules.
        if self.table is None or _services(table) != _services(self.table):
            self.proxy.update(table)
        if self.table is None or table.pod_hosts != self.table.pod_hosts:
            self._sync_routes(table)
        if self.dns is not None:
            self.dns.update(table)
        self.table = table
        return True

    def _guard(self) -> None:
        try:
            hostnet.guard_service_range(self.service_cidr)
        except OSError as exc:  # no `ip`, or no right to add routes
            log.warning("proxy %s: no unreachable route over %s: %s", self.node_name,
                        self.service_cidr, exc)

    def _sync_routes(self, table: ServiceTable) -> None:
        try:
            self.routes.sync(table.pod_hosts, hostnet.local_addresses())
        except (OSError, ValueError) as exc:  # no `ip`, or a namespace without routes
            log.warning("proxy %s: pod routes not synced: %s", self.node_name, exc)

    def wake(self) -> None:
        """Read the store now (the control plane wrote Endpoints) instead of at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.sync_once()
            except Exception as exc:  # a store hiccup must not end the data path
                self.errors += 1
                log.warning("proxy %s: sync failed: %s", self.node_name, exc)

    def close(self) -> None:
        """Stop reading the store; rules, addresses, routes and DNS stay for a successor."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        if self.dns is not None:
            self.dns.close()
        self.proxy.close()

    def cleanup(self) -> None:
        """Stop, then remove everything this host's proxy installed (rules, addresses,
        routes, the DNS server)."""
        self.close()
        if self.dns is not None:
            self.dns.stop()
        self.proxy.cleanup()
        _remove_routes(self.routes)


def cleanup_host() -> None:
    """Remove what any proxy of this network namespace left: `reconciler proxy --cleanup`,
    as `kube-proxy --cleanup`. Only what carries our names, labels and route protocol."""
    stop_all()
    remove_host_state()
    _remove_routes(PodRoutes(""))


def _remove_routes(routes: PodRoutes) -> None:
    try:
        routes.cleanup()
    except (OSError, ValueError) as exc:
        log.warning("pod routes not removed: %s", exc)


def _services(table: ServiceTable) -> ServiceTable:
    """The table without what only DNS reads."""
    return dataclasses.replace(table, pod_namespaces=(), pod_hosts=())
