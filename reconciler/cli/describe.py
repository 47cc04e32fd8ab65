"""`reconciler describe KIND [NAME]`: the click command around the views.

Part of the CLI read side: parses the resource and name, opens the store
read-only and prints the text `reconciler.views.describe` builds (the dashboard
shows the same text), or kubectl's NotFound error with exit 1. Every kind `get`
lists can be described; with no NAME (or with `-l`), every object of the kind in
the namespace is, separated by blank lines as kubectl does.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from reconciler.api.types import KIND_ALIASES
from reconciler.cli.completion import complete_names, complete_resources
from reconciler.cli.get import open_store, selector_predicate
from reconciler.cli.options import state_option
from reconciler.views import describe as views
from reconciler.views.describe_generic import object_name, rows_of
from reconciler.views.listings import LISTINGS


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("resource", shell_complete=complete_resources)
@click.argument("name", required=False, shell_complete=complete_names)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-A", "--all-namespaces", is_flag=True, help="Describe across every namespace.")
@click.option("-l", "--selector", default=None, help="Label selector, e.g. app=web.")
@state_option
def describe(resource: str, name: str | None, namespace: str, all_namespaces: bool,
             selector: str | None, state: str) -> None:
    """Show one object (or all of a kind) in detail, with its events."""
    if "/" in resource and name is None:
        resource, name = resource.split("/", 1)
    word = resource.lower()
    kind = KIND_ALIASES.get(word) or KIND_ALIASES.get(word.split(".", 1)[0])
    if kind is None or kind not in LISTINGS:
        raise click.ClickException(f'the server doesn\'t have a resource type "{resource}"')
    now = datetime.now(UTC)
    store = open_store(state)
    try:
        if name:
            texts = [views.describe(store, kind, namespace, name, now)]
        else:
            rows = rows_of(store, kind, None if all_namespaces else namespace, now,
                           selector_predicate(selector))
            targets = sorted({(r.namespace, object_name(kind, r)) for r in rows})
            texts = [views.describe(store, kind, ns or namespace, n, now) for ns, n in targets]
    finally:
        store.close()
    if name and texts[0] is None:
        resource_name = LISTINGS[kind].resource
        click.echo(f'Error from server (NotFound): {resource_name} "{name}" not found', err=True)
        raise SystemExit(1)
    found = [t for t in texts if t is not None]
    if not found:
        where = f" in {namespace} namespace" if LISTINGS[kind].namespaced and \
            not all_namespaces else ""
        click.echo(f"No resources found{where}.", err=True)
        return
    click.echo("\n\n\n".join(found))
