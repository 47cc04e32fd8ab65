"""The proxy and DNS of one host, fed from the store by its change feed.

What `reconciler run` starts for the local host (reconciler/service/app.py) and what
`reconciler proxy --node NAME` runs on another host. A thread waits on the store's
change feed (`Store.feed()`: SQLite's `PRAGMA data_version` then the per-topic
counters of migration 0008, PostgreSQL's LISTEN/NOTIFY), re-reads only the topics
that changed (`feed.TableFeed`) and, when the table changed, hands it to
`ServiceProxy.update` and the DNS server (`dnsproc.DetachedDns`, a process of its
own), and keeps the routes to other hosts' pods (`podroutes`). It then writes the
endpoints revision it applied (`Store.ack_proxy`), which a deleted pod's drain
waits for (reconciler/control/pods.py). A full read every `interval` seconds is
only a safety net; a periodic resync repairs rules, addresses, routes or a DNS
server that someone else removed.

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
from collections.abc import Iterable
from typing import Any, Protocol

from reconciler.network import hostnet
from reconciler.network.dnsproc import DetachedDns, stop_all
from reconciler.network.feed import ACK_EVERY, TOPICS, TableFeed
from reconciler.network.model import CLUSTER_DOMAIN, ServiceTable
from reconciler.network.podroutes import PodRoutes
from reconciler.network.proxy import Mode, ServiceProxy, remove_host_state
from reconciler.network.tcp import MAX_CONNECTIONS, MAX_SESSIONS

log = logging.getLogger(__name__)

RESYNC_EVERY = 30.0
# Seconds between full reads when no change was signalled: only a safety net (a lost
# notification, a store restored from a backup behind the triggers' back).
SAFETY_POLL = 60.0
WAIT_SLICE = 1.0  # longest wait on the feed: how soon `wake` and a stop are noticed


class _NetworkSettings(Protocol):
    proxy_mode: str
    dns_ip: str
    dns_port: int
    cluster_domain: str
    service_cidr: str
    max_connections: int
    max_sessions: int


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
        interval: float = SAFETY_POLL,
        service_cidr: str = "",
        max_connections: int = MAX_CONNECTIONS,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.store = store
        self.node_name = node_name
        self.dns_ip = dns_ip
        self.interval = interval
        self._tables = TableFeed(store, dns_ip)
        # A store without a feed (a test's fake) is read every `interval` seconds.
        self._feed: Any = store.feed() if hasattr(store, "feed") else None
        if self._feed is not None:
            self._feed.wait(0)  # its first answer ("everything") is the read just below
        self._acked: int | None = None
        self._acked_at = 0.0
        self._last_full = time.monotonic()
        self.proxy = ServiceProxy(node_name, mode, max_connections=max_connections,
                                  max_sessions=max_sessions)
        self.routes = PodRoutes(node_name)
        self.dns: DetachedDns | None = None
        self.table: ServiceTable | None = None
        self.errors = 0
        # Whether the last attempt to read the store failed (the agent's "store
        # unreachable"): cleared only by a read that succeeds (a whole one after a failure).
        self.failing = False
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
                   service_cidr=net.service_cidr, max_connections=net.max_connections,
                   max_sessions=net.max_sessions)

    @property
    def mode(self) -> str:
        return self.proxy.mode

    def sync_once(self, topics: Iterable[str] = TOPICS) -> bool:
        """Re-read `topics` (default: all), apply what changed, acknowledge; True when the
        table changed."""
        topics = set(topics)
        if topics >= TOPICS:
            self._last_full = time.monotonic()
        table = self._tables.refresh(topics)
        changed = self._apply(table)
        self._ack()
        return changed

    def _apply(self, table: ServiceTable) -> bool:
        if table == self.table:
            return False
        # Routes first: rules that send to a pod of another host before the route to it
        # is there fail those connections. Pods come and go far more often than services:
        # their addresses matter to routes and DNS only, so a pod start alone does not
        # rewrite the rules.
        if self.table is None or table.pod_hosts != self.table.pod_hosts:
            self._sync_routes(table)
        if self.table is None or _services(table) != _services(self.table):
            self.proxy.update(table)
        if self.dns is not None:
            self.dns.update(table)
        self.table = table
        return True

    def _ack(self) -> None:
        """Tell the store which endpoints revision this host's rules hold (and that the proxy
        lives): on a new revision, and every ACK_EVERY seconds."""
        revision = self._tables.endpoints_revision
        if revision == self._acked and time.monotonic() - self._acked_at < ACK_EVERY:
            return
        ack = getattr(self.store, "ack_proxy", None)
        if ack is None:
            return
        try:
            ack(self.node_name, revision, self.proxy.mode)
        except Exception as exc:  # the next change or tick tries again
            log.warning("proxy %s: revision %d not acknowledged: %s", self.node_name, revision,
                        exc)
            return
        self._acked, self._acked_at = revision, time.monotonic()

    def _resync(self) -> None:
        self._last_resync = time.monotonic()
        self.proxy.resync()
        self._guard()
        if self.table is not None:
            self._sync_routes(self.table)
        if self.dns is not None:
            self.dns.ensure()

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
        """Read services and endpoints within WAIT_SLICE, whatever the feed says (the control
        plane of this process wrote Endpoints; the feed reports it too, this is a backstop)."""
        self._wake.set()

    def _next_topics(self) -> set[str]:
        if self._feed is not None:
            topics = set(self._feed.wait(WAIT_SLICE))
        else:
            self._wake.wait(WAIT_SLICE)
            topics = set()
        if self._wake.is_set():
            self._wake.clear()
            topics |= {"services", "endpoints"}
        if time.monotonic() - self._last_full >= self.interval:
            topics |= TOPICS
        return topics

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                topics = self._next_topics()
                if self._stop.is_set():
                    return
                if topics:
                    self.sync_once(topics)
                    self.failing = False
                else:
                    self._ack()
                if time.monotonic() - self._last_resync > RESYNC_EVERY:
                    self._resync()
            except Exception as exc:  # a store hiccup must not end the data path
                self.errors += 1
                self.failing = True
                log.warning("proxy %s: sync failed: %s", self.node_name, exc)
                # The topics that failed were taken from the feed: read everything next.
                self._last_full = 0.0
                self._stop.wait(WAIT_SLICE)

    def close(self) -> None:
        """Stop reading the store; rules, addresses, routes and DNS stay for a successor.

        The acknowledgement row goes: nothing updates this host's rules any more, so a
        drain waiting for them would only wait.
        """
        self._stop.set()
        self._wake.set()
        if self._feed is not None:
            self._feed.close()
        self._thread.join(timeout=5)
        forget = getattr(self.store, "forget_proxy", None)
        if forget is not None and self._acked is not None:
            try:
                forget(self.node_name)
            except Exception as exc:  # a store already closed or gone
                log.warning("proxy %s: acknowledgement not removed: %s", self.node_name, exc)
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
