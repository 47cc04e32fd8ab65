"""`reconciler delete pod|pvc NAME`: ask for a pod's or a claim's deletion, as kubectl does.

The CLI's imperative writes, and they add no hidden state: the object is marked
for deletion in the store and the running service (nudged through a request row
in the store, as `reconciler sync` is: it may run on another host) does the
rest. A pod's containers are stopped and its record removed; a pod of a
controller is then replaced (a StatefulSet's under the same name), a pod
declared in a manifest is declared again from its file (as a static pod would
be). To remove a workload for good, remove its manifest. A claim goes
once no scheduled pod uses it, its Docker volume with it (as Kubernetes'
pvc-protection waits); a StatefulSet member waiting for a lost host's volume then
gets a new, empty claim wherever it can run.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import click

from reconciler.cli.options import state_option
from reconciler.service.requests import SyncError, request_sync


@click.command()
@click.argument("kind", type=click.Choice(["pod", "pods", "po", "pvc", "pvcs",
                                            "persistentvolumeclaim", "persistentvolumeclaims"]))
@click.argument("names", nargs=-1, required=True)
@click.option("-n", "--namespace", default="default", show_default=True)
@state_option
def delete(kind: str, names: tuple[str, ...], namespace: str, state: str) -> None:
    """Delete pods (their controller or manifest brings them back) or volume claims."""
    from reconciler.store import Store, StoreMissing

    try:
        store = Store.open(state, create=False)
    except StoreMissing as e:
        raise click.ClickException(str(e)) from None
    claims = not kind.startswith("po")
    resource = "persistentvolumeclaims" if claims else "pods"
    missing = []
    try:
        for name in names:
            if claims:
                claim = store.get_claim(namespace, name)
                if claim is None:
                    missing.append(name)
                    continue
                store.mark_claims_deleted([claim], datetime.now(UTC))
                click.echo(f'persistentvolumeclaim "{name}" deleted')
                continue
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
        request_sync(state, "delete")
    for name in missing:
        click.echo(f'Error from server (NotFound): {resource} "{name}" not found', err=True)
    if missing:
        raise SystemExit(1)
