"""`reconciler proxy --node NAME`: the service proxy and DNS of one Docker host, fed from the store.

Follows the store's change feed (SQLite `data_version` and per-topic revisions,
PostgreSQL LISTEN/NOTIFY), and writes the endpoints revision it applied, which
a deleted pod's drain waits for. Runs on each extra host (for tests: inside the
host's network namespace via `nsenter --net=/var/run/netns/hostb`), as
kube-proxy runs on every node; the local host's proxy is embedded in `reconciler
run`. The work is `reconciler.network.embedded.EmbeddedProxy`; this is its command
line.

Stopping it (SIGTERM, SIGINT, or a kill) leaves the rules, cluster IPs, pod routes
and the DNS server in place: the next `reconciler proxy` on the host takes them
over. `reconciler proxy --cleanup` removes them, as `kube-proxy --cleanup`.
`reconciler agent` (reconciler/cli/agent.py) is the same data plane under the name
a machine's unit file uses; this command's body is the agent's `serve`.
"""

from __future__ import annotations

import logging

import click

from reconciler.cli.agent import data_plane_options, serve
from reconciler.cli.options import state_option


@click.command()
@click.option("--node", "node_name", default="", help="Name of the node this host is.")
@data_plane_options
@click.option("--cleanup", is_flag=True,
              help="Remove every rule, cluster IP, pod route and DNS server a proxy left "
                   "on this host (network namespace), then exit.")
@state_option
def proxy(node_name: str, mode: str, dns_ip: str, dns_port: int, service_cidr: str,
          interval: float, cleanup: bool, state: str) -> None:
    """Serve cluster IPs, NodePorts and DNS on this host until SIGTERM or SIGINT.

    What it installed stays in force after it stops, until the next proxy on this
    host replaces it or `--cleanup` removes it.
    """
    from reconciler.network.embedded import cleanup_host

    if cleanup:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        cleanup_host()
        click.echo("removed the service proxy's rules, addresses, routes and DNS servers",
                   err=True)
        return
    if not node_name:
        raise click.UsageError("--node is required (except with --cleanup)")
    # The same body as `reconciler agent`: it waits for the store and reports to systemd.
    serve(node_name, state, mode, dns_ip, dns_port, service_cidr, interval)
