"""`reconciler agent --node NAME --state URL`: the host-local data plane of one machine.

What runs on every machine besides the control plane (systemd/reconciler-agent.service),
as kube-proxy does: the service proxy (iptables or userspace), the cluster DNS server
and the routes to other hosts' pods, fed from the shared store's change feed
(`reconciler.network.embedded.EmbeddedProxy`; PostgreSQL LISTEN/NOTIFY). It is
`reconciler proxy` made to run unattended: it waits for the store at start instead
of failing (a machine booting before the database), says READY=1 / STATUS= /
WATCHDOG=1 to systemd, and logs when the store goes away and comes back. While the
store is unreachable nothing it installed changes (the rules, the DNS answers and
routes stay as last read); its feed reconnects by itself and the first read after
re-applies whatever changed meanwhile.

When the machine's Node is declared with `agent: true` (the control plane does not
reach its engine), the agent also runs that node: its heartbeat, its engine's events
and its pods' containers, from the store (reconciler/service/agent_node.py). Otherwise
the control plane reaches the engine itself (unix, tcp+TLS, ssh), as docs/multihost.md
describes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.cli.options import state_option
from reconciler.service.systemd import Notifier

if TYPE_CHECKING:
    from reconciler.network.embedded import EmbeddedProxy
    from reconciler.store import Store

log = logging.getLogger("reconciler.agent")
F = TypeVar("F", bound=Callable[..., Any])

RETRY_MAX = 5.0  # seconds: the longest wait between two attempts to reach the store
# libpq parameters for a store over TCP (a URL's own values win): a connection attempt
# gives up after 5 s, an idle connection (the LISTEN one) is probed after 5 s of silence
# and dropped after 3 unanswered probes 2 s apart, data unacknowledged for 10 s fails.
TCP_TIMEOUTS = {"connect_timeout": "5", "keepalives": "1", "keepalives_idle": "5",
                "keepalives_interval": "2", "keepalives_count": "3",
                "tcp_user_timeout": "10000"}


def with_tcp_timeouts(state: str) -> str:
    """`state` with TCP_TIMEOUTS added when it names PostgreSQL over TCP; else unchanged
    (a SQLite path, a unix socket: no network to lose).

    A partition leaves a TCP connection to the store silent rather than closed: without
    these the agent waits on a dead connection (the idle LISTEN one for ever, one with a
    query in flight until the kernel gives up: about fifteen minutes by default) instead
    of seeing the store gone within about ten seconds and connecting again once it is back.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(state)
    except ArgumentError:
        return state
    host = url.query.get("host") or url.host or ""
    if url.get_backend_name() != "postgresql" or not isinstance(host, str) \
            or not host or host.startswith("/"):
        return state
    missing = {k: v for k, v in TCP_TIMEOUTS.items() if k not in url.query}
    return url.update_query_dict(missing).render_as_string(hide_password=False)


def serve(node_name: str, state: str, mode: str, dns_ip: str, dns_port: int,
          service_cidr: str, interval: float, *, node: NodeOptions | None = None) -> None:
    """Run the data plane of `node_name` until SIGTERM or SIGINT (both commands' body);
    with `node` (the agent), also the node itself when it is declared `agent: true`.
    The node part's failure (a store file that does not exist, say) is the command's."""
    try:
        _serve(node_name, state, mode, dns_ip, dns_port, service_cidr, interval, node=node)
    finally:
        if node is not None and node.error:
            raise click.ClickException(node.error)


def _serve(node_name: str, state: str, mode: str, dns_ip: str, dns_port: int,
           service_cidr: str, interval: float, *, node: NodeOptions | None = None) -> None:
    from reconciler.service.limits import raise_open_files_limit

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    soft, _ = raise_open_files_limit()
    log.info("open files limit: %d", soft)
    notifier = Notifier()
    state = with_tcp_timeouts(state)
    if node is not None:
        node.start(node_name, state, stop)
        if not node.data_plane:
            notifier.ready(f"node {node_name}: data plane off")
            try:
                while not stop.wait(1.0):
                    notifier.watchdog()
            finally:
                notifier.stopping()
                node.join()
            return
    started = _start(node_name, state, mode, dns_ip, dns_port, service_cidr, interval,
                     stop, notifier)
    if started is None:
        return
    store, embedded = started
    click.echo(f"proxy for node {node_name}: mode {embedded.mode}"
               + (f" ({embedded.proxy.fallback_reason})" if embedded.proxy.fallback_reason else "")
               + (f", DNS on {dns_ip}:{embedded.dns.port}" if embedded.dns else ""), err=True)
    notifier.ready(_status(node_name, embedded, 0))
    wd = notifier.watchdog_interval()
    try:
        _watch(node_name, embedded, notifier, stop, wd)
    finally:
        notifier.stopping()
        embedded.close()  # leaves the data plane in force for the next agent
        store.close()
        if node is not None:
            node.join()


class NodeOptions:
    """The agent's node part (service/agent_node.py), in a thread of its own."""

    def __init__(self, config_path: Path | None, engine: str | None, data_plane: bool) -> None:
        self.config_path, self.engine, self.data_plane = config_path, engine, data_plane
        self._thread: threading.Thread | None = None
        self.error = ""  # why the node part stopped the agent, for its exit status

    def start(self, node_name: str, state: str, stop: threading.Event) -> None:
        from reconciler.service.agent_node import serve_node
        from reconciler.store import StoreMissing

        def body() -> None:
            try:
                serve_node(node_name, state, self.config_path, self.engine, stop)
            except StoreMissing as e:  # a wrong path, not an outage: the agent exits 1
                self.error = str(e)
                stop.set()
            except Exception as e:
                log.exception("node %s: the node part stopped", node_name)
                self.error = f"node {node_name}: the node part stopped: {e}"
                stop.set()

        self._thread = threading.Thread(target=body, name="node", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(30)


def _start(node_name: str, state: str, mode: str, dns_ip: str, dns_port: int,
           service_cidr: str, interval: float, stop: threading.Event,
           notifier: Notifier) -> tuple[Store, EmbeddedProxy] | None:
    """The store and the proxy, retried until the store answers (None: stopped first)."""
    from reconciler.network.embedded import EmbeddedProxy
    from reconciler.store import Store, StoreMissing

    delay = 1.0
    while not stop.is_set():
        store: Store | None = None
        try:
            store = Store.open(state, create=False)
            return store, EmbeddedProxy(
                store, node_name, "userspace" if mode == "userspace" else "iptables",
                dns_ip, dns_port, interval=interval, service_cidr=service_cidr)
        except StoreMissing as e:  # a wrong path, not an outage: say so and stop
            raise click.ClickException(str(e)) from None
        except Exception as e:  # the store is down or unreachable: wait for it
            if store is not None:
                store.close()
            log.warning("store not reachable (%s); retrying in %.0fs",
                        str(e).split("\n")[0], delay)
            notifier.status(f"waiting for the store: {str(e).splitlines()[0][:200]}")
            stop.wait(delay)
            delay = min(delay * 2, RETRY_MAX)
    return None


def _watch(node_name: str, embedded: EmbeddedProxy, notifier: Notifier,
           stop: threading.Event, watchdog: float | None) -> None:
    """Report the data plane's state until stopped; the proxy's own thread does the work."""
    failing_since = 0.0
    # Bounded waits: the kernel may hand SIGTERM to another thread, and then the
    # handler runs only when this (main) thread next wakes (see network/dnsd.py).
    while not stop.wait(1.0):
        # Reachable again only once a read succeeded: a second without a new error is no
        # proof, an attempt to connect takes longer (connect_timeout).
        if embedded.failing and not failing_since:
            failing_since = time.monotonic()
            log.warning("agent %s: store unreachable; the data plane is kept as it is",
                        node_name)
        elif failing_since and not embedded.failing:
            log.info("agent %s: store reachable again after %.0fs", node_name,
                     time.monotonic() - failing_since)
            failing_since = 0.0
        notifier.status(_status(node_name, embedded, failing_since))
        if watchdog:
            notifier.watchdog()


def _status(node_name: str, embedded: EmbeddedProxy, failing_since: float) -> str:
    table = embedded.table
    count = len(table.services) if table is not None else 0
    store = (f"store unreachable for {time.monotonic() - failing_since:.0f}s"
             if failing_since else "store reachable")
    return f"node {node_name}: {embedded.mode} mode, {count} services, {store}"


def data_plane_options(command: F) -> F:
    """The options `agent` and `proxy` share: what the data plane serves and how."""
    for option in reversed([
        click.option("--mode", type=click.Choice(["iptables", "userspace"]),
                     default="iptables", show_default=True,
                     help="iptables (falls back to userspace when it cannot)."),
        click.option("--dns-ip", default="10.96.0.10", show_default=True,
                     help="Address of the cluster DNS on this host; empty: no DNS."),
        click.option("--dns-port", default=53, show_default=True, type=int),
        click.option("--service-cidr", default="10.96.0.0/16", show_default=True,
                     help="The cluster IP range (the service's network.service_cidr): routed "
                          "`unreachable`, so a cluster IP not on lo never leaves the host."),
        click.option("--interval", default=15.0, show_default=True, type=float,
                     help="Seconds between full reads of the store when no change was "
                          "signalled (a safety net: changes follow the store's change feed)."),
    ]):
        command = option(command)
    return command


@click.command()
@click.option("--node", "node_name", required=True, help="Name of the node this machine is.")
@data_plane_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="RECONCILER_CONFIG", default=None,
              help="The service's TOML configuration (runtime, network, secrets) for a node "
                   "declared `agent: true`.")
@click.option("--engine", default=None, envvar="RECONCILER_AGENT_ENGINE",
              help="This machine's Docker engine for a node declared `agent: true` "
                   "(default: the Node's spec.engine).")
@click.option("--data-plane/--no-data-plane", default=True, show_default=True,
              help="Serve the proxy, DNS and pod routes (off: only the node's own work).")
@state_option
def agent(node_name: str, mode: str, dns_ip: str, dns_port: int, service_cidr: str,
          interval: float, config_path: Path | None, engine: str | None, data_plane: bool,
          state: str) -> None:
    """Serve this machine's cluster IPs, NodePorts, DNS and pod routes from the shared store.

    Waits for the store when it is down, keeps the data plane as it is while the
    store is unreachable, and follows it again when it is back. When this machine's
    Node is declared `agent: true`, also posts its heartbeat, follows its engine's
    events and runs its pods' containers from the store.
    """
    serve(node_name, state, mode, dns_ip, dns_port, service_cidr, interval,
          node=NodeOptions(config_path, engine, data_plane))
