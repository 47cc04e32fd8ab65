"""`reconciler delete pod NAME`: ask for a pod's deletion, as `kubectl delete pod` does.

The one imperative write of the CLI, and it adds no hidden state: the pod is
marked for deletion in the store and the running service (nudged through
`reconciler sync`'s signal) stops its containers and removes its record. A pod
of a replication controller is then replaced under a new name, a pod declared
in a manifest is declared again from its file (as a static pod would be). To
remove a workload for good, remove its manifest.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import click

from reconciler.cli.options import state_option
from reconciler.sources.trigger import SyncError, request_sync


@click.command()
@click.argument("kind", type=click.Choice(["pod", "pods", "po"]))
@click.argument("names", nargs=-1, required=True)
@click.option("-n", "--namespace", default="default", show_default=True)
@state_option
def delete(kind: str, names: tuple[str, ...], namespace: str, state: str) -> None:
    """Delete pods: their controller (or their manifest) brings them back."""
    from reconciler.store import Store, StoreMissing

    try:
        store = Store.open(state, create=False)
    except StoreMissing as e:
        raise click.ClickException(str(e)) from None
    missing = []
    try:
        for name in names:
            pod = store.get_pod(namespace, name)
            if pod is None:
                missing.append(name)
                continue
            if pod.deletion_timestamp is None:
                pod.deletion_timestamp = datetime.now(UTC)
                store.patch_pod(pod, "deletion")
            click.echo(f'pod "{name}" deleted')
    finally:
        store.close()
    # With no service running, the deletion happens when it starts.
    with contextlib.suppress(SyncError):
        request_sync(state)
    for name in missing:
        click.echo(f'Error from server (NotFound): pods "{name}" not found', err=True)
    if missing:
        raise SystemExit(1)
