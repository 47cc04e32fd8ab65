"""`reconciler describe pod|rc|rs|sts|svc|node NAME`: the click command around the views.

Part of the CLI read side: parses the resource and name, opens the store
read-only and prints the text `reconciler.views.describe` builds (the dashboard shows the same
text), or kubectl's NotFound error with exit 1.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from reconciler.api.types import KIND_ALIASES
from reconciler.cli.get import open_store
from reconciler.cli.options import state_option
from reconciler.views import describe as views
from reconciler.views.listings import LISTINGS


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("resource")
@click.argument("name", required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@state_option
def describe(resource: str, name: str | None, namespace: str, state: str) -> None:
    """Show one pod, rc, rs, sts, svc or node in detail, with its events."""
    if "/" in resource and name is None:
        resource, name = resource.split("/", 1)
    kind = KIND_ALIASES.get(resource.lower())
    if kind is None or kind not in views.KINDS:
        raise click.ClickException(f'the server doesn\'t have a resource type "{resource}"')
    if not name:
        raise click.ClickException("describe needs a NAME")
    store = open_store(state)
    try:
        text = views.describe(store, kind, namespace, name, datetime.now(UTC))
    finally:
        store.close()
    if text is None:
        resource_name = LISTINGS[kind].resource
        click.echo(f'Error from server (NotFound): {resource_name} "{name}" not found', err=True)
        raise SystemExit(1)
    click.echo(text)
