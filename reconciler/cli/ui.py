"""`reconciler ui`: the web dashboard alone, on a store whose service may be down.

The same dashboard `reconciler run` serves (reconciler/ui), for a machine
that only holds a copy of the store, or while the service is stopped. It only
reads the store: the page changes when the store does.
"""

from __future__ import annotations

import click

from reconciler.cli.options import state_option


@click.command("ui")
@click.option("--address", default="127.0.0.1:8080", show_default=True,
              help="host:port to serve on; loopback unless you say otherwise.")
@state_option
def ui(address: str, state: str) -> None:
    """Serve the read-only web dashboard of the state store."""
    from reconciler.cli.get import open_store
    from reconciler.ui.server import exposure_warning, serve_forever

    try:
        warning = exposure_warning(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--address") from None
    if warning:
        click.echo(f"warning: {warning}", err=True)
    open_store(state).close()  # a missing store is an error here, not at the first request
    click.echo(f"serving the dashboard of {state} on http://{address}/", err=True)
    serve_forever(address, state)
