"""`reconciler api`: the Kubernetes API alone, read-only, on a store whose service may be down.

The same API `reconciler run` serves (reconciler/kubeapi) for kubectl and the
client libraries, as `reconciler ui` is for the dashboard: lists, gets, watches
and logs work; every write answers 405, since the service that turns them into
changes of the desired source is not running.
"""

from __future__ import annotations

import click

from reconciler.cli.options import state_option


@click.command("api")
@click.option("--address", default="127.0.0.1:6443", show_default=True,
              help="host:port to serve on; loopback unless you say otherwise.")
@click.option("--hide-secret-data", is_flag=True, help="Serve Secrets without their data.")
@state_option
def api(address: str, hide_secret_data: bool, state: str) -> None:
    """Serve the read-only Kubernetes API of the state store (for kubectl)."""
    from reconciler.cli.get import open_store
    from reconciler.kubeapi.context import ApiContext
    from reconciler.kubeapi.server import is_loopback, serve_forever, split_address

    try:
        host, _ = split_address(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--address") from None
    if not is_loopback(host):
        click.echo(f"warning: the API listens on {address}, beyond loopback: anyone who "
                   "reaches it reads the cluster's state", err=True)
    open_store(state).close()  # a missing store is an error here, not at the first request
    ctx = ApiContext(state=state, read_only=True, show_secret_data=not hide_secret_data)
    click.echo(f"serving the Kubernetes API of {state} on http://{address}/ (read-only)",
               err=True)
    serve_forever(ctx, address)
