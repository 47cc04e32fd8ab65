"""`reconciler drain NODE`: cordon a node in its manifest, then evict its pods within budgets.

As kubectl drain, in two steps. The cordon is GitOps: `spec.unschedulable: true`
is written into the Node's manifest file (every other byte kept, `--commit`
commits it), and the command waits until the running service has applied it,
so no replacement lands on the node being emptied. Then each pod bound to the
node is evicted (marked for deletion, as `reconciler delete pod` does: its
owner replaces it elsewhere, and the pod controller takes it out of its
services' endpoints before stopping it), one at a time, and only while every
PodDisruptionBudget covering it allows a disruption (`scheduling.disruption`);
a pod a budget holds back is retried every few seconds, as kubectl does.
DaemonSet pods are left (kubectl's --ignore-daemonsets), and so are pods
already being deleted. `reconciler uncordon`-style undo: set the field back to
false in the file.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reconciler.api.manifest_edit import EditError, set_spec_value
from reconciler.api.records import PodRecord
from reconciler.cli.options import desired_option, state_option
from reconciler.cli.scale import commit_file, manifest_path, write_atomically
from reconciler.kubeapi.sourcewrite import folder_lock
from reconciler.manifests.loader import load_folder
from reconciler.scheduling.disruption import VIOLATION, blocking
from reconciler.service.requests import SyncError, request_sync

RETRY_SECONDS = 5.0


def cordon(root: Path, name: str, commit: bool) -> str:
    """Write spec.unschedulable: true into the Node's file; what was done, for the user."""
    with folder_lock(root):  # shared with the API's writes and `reconciler scale`
        found = [o for o in load_folder(root).objects
                 if o.key.kind == "Node" and o.key.name == name]
        if not found:
            raise click.ClickException(f'node "{name}" is not declared in {root}')
        path = manifest_path(root, found[0].position.file)
        text = path.read_text(encoding="utf-8")
        try:
            edited = set_spec_value(text, "Node", "", name, "unschedulable", "true")
        except EditError as e:
            raise click.ClickException(f"{path}: {e}") from None
        if edited == text:
            return f"node/{name} already cordoned"
        write_atomically(path, edited)
    if commit:
        return f"node/{name} cordoned (committed {commit_file(path, f'Cordon node {name}')})"
    return f"node/{name} cordoned"


def _evictable(pods: list[PodRecord], node: str) -> list[PodRecord]:
    return [p for p in pods if p.node_name == node and p.deletion_timestamp is None
            and (p.owner is None or p.owner.kind != "DaemonSet")]


@click.command()
@click.argument("node")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds to wait for the cordon to apply and the node to empty.")
@click.option("--commit", is_flag=True, help="Commit the cordon in the folder's git repository.")
@desired_option
@state_option
def drain(node: str, timeout: float, commit: bool, desired: str, state: str) -> None:
    """Cordon NODE (in its manifest) and evict its pods, respecting PodDisruptionBudgets."""
    from reconciler.store import Store, StoreMissing

    click.echo(cordon(Path(desired), node, commit))
    try:
        store = Store.open(state, create=False)
    except StoreMissing as e:
        raise click.ClickException(str(e)) from None
    deadline = time.monotonic() + timeout
    try:
        _wait_cordoned(store, node, deadline)
        _evict_all(store, node, deadline, state)
    finally:
        store.close()
    click.echo(f"node/{node} drained")


def _nudge(state: str) -> None:
    with contextlib.suppress(SyncError):
        request_sync(state)


def _wait_cordoned(store: Any, node: str, deadline: float) -> None:
    """Until the service has applied the cordon: evicting sooner could place the
    replacements on the same node."""
    while True:
        record = store.get_node(node)
        if record is not None and record.unschedulable:
            return
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"node/{node}: the cordon was not applied in time (is the service running?)")
        time.sleep(0.5)


def _evict_all(store: Any, node: str, deadline: float, state: str) -> None:
    """Evict until no pod but DaemonSet pods is bound to the node (those being deleted gone)."""
    told: set[str] = set()
    while True:
        pods: list[PodRecord] = store.list_pods()
        staying = [p for p in pods if p.node_name == node
                   and (p.owner is None or p.owner.kind != "DaemonSet")]
        if not staying:
            return
        left = _evictable(pods, node)
        budgets = [o.body for o in store.objects(kind="PodDisruptionBudget")]
        for pod in left:
            held = blocking(pod, budgets, pods)
            if held:
                if pod.uid not in told:
                    click.echo(f'error when evicting pods/"{pod.name}" -n "{pod.namespace}" '
                               f"(will retry after {RETRY_SECONDS:.0f}s): {VIOLATION}",
                               err=True)
                    told.add(pod.uid)
                continue
            pod.deletion_timestamp = datetime.now(UTC)
            store.patch_pod(pod, "deletion")
            click.echo(f"evicting pod {pod.namespace}/{pod.name}")
            click.echo(f"pod/{pod.name} evicted")
            break  # one at a time: the budgets are counted again with this one gone
        _nudge(state)
        if time.monotonic() > deadline:
            names = ", ".join(f"{p.namespace}/{p.name}" for p in staying)
            raise click.ClickException(f"node/{node}: pods left after the timeout: {names}")
        waiting = bool(left) and all(blocking(p, budgets, pods) for p in left)
        time.sleep(RETRY_SECONDS if waiting else 0.5)
