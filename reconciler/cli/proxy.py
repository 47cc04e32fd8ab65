"""`reconciler proxy --node NAME`: the service proxy and DNS of one Docker host, fed from the store.

Runs on each extra host (for tests: inside the host's network namespace via
`nsenter --net=/var/run/netns/hostb`), as kube-proxy runs on every node; the
local host's proxy is embedded in `reconciler run`. The work is
`reconciler.network.embedded.EmbeddedProxy`; this is its command line.
"""

from __future__ import annotations

import logging
import signal
import threading

import click

from reconciler.cli.options import state_option


@click.command()
@click.option("--node", "node_name", required=True, help="Name of the node this host is.")
@click.option("--mode", type=click.Choice(["iptables", "userspace"]), default="iptables",
              show_default=True, help="iptables (falls back to userspace when it cannot).")
@click.option("--dns-ip", default="10.96.0.10", show_default=True,
              help="Address of the cluster DNS on this host; empty: no DNS.")
@click.option("--dns-port", default=53, show_default=True, type=int)
@click.option("--interval", default=0.5, show_default=True, type=float,
              help="Seconds between reads of the store.")
@state_option
def proxy(node_name: str, mode: str, dns_ip: str, dns_port: int, interval: float,
          state: str) -> None:
    """Serve cluster IPs, NodePorts and DNS on this host until SIGTERM or SIGINT."""
    from reconciler.network.embedded import EmbeddedProxy
    from reconciler.store import Store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    store = Store.open(state, create=False)
    embedded = EmbeddedProxy(store, node_name, "userspace" if mode == "userspace" else "iptables",
                             dns_ip, dns_port, interval=interval)
    click.echo(f"proxy for node {node_name}: mode {embedded.mode}"
               + (f" ({embedded.proxy.fallback_reason})" if embedded.proxy.fallback_reason else "")
               + (f", DNS on {dns_ip}:{embedded.dns.port}" if embedded.dns else ""), err=True)
    try:
        stop.wait()
    finally:
        embedded.close()
        store.close()
