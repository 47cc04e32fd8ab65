"""`reconciler rollout status|history|undo|restart deploy/NAME`: kubectl's rollout, GitOps style.

`status` and `history` read the state store (and the manifest's git log);
`undo` and `restart` only edit the Deployment's pod template in the manifest
file it is declared in, every other byte kept (`reconciler.cli.rollout_edit`),
optionally committing it, as `scale` does: the running service converges from
that edit like from any other, and the store is never written behind the
manifest's back. Revisions come from `reconciler.cli.rollout_history`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.api.manifest_edit import EditError, find_object
from reconciler.api.types import JSON, KIND_ALIASES, Key
from reconciler.cli.get import open_store
from reconciler.cli.options import F, desired_option, state_option
from reconciler.cli.rollout_edit import set_template, template_of
from reconciler.cli.rollout_history import Revision, defaulted, revisions
from reconciler.cli.scale import commit_file, manifest_path, write_atomically
from reconciler.kubeapi.sourcewrite import folder_lock
from reconciler.planning import deployment as plan
from reconciler.store.opener import open_reader
from reconciler.store.reader import ReadStore
from reconciler.store.schema_head import StoreMissing
from reconciler.views import output
from reconciler.views.deployments import rollout_state
from reconciler.views.describe_statefulset import pod_template_section
from reconciler.views.sections import Describer

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POLL_SECONDS = 1.0


def _target(f: F) -> F:
    """RESOURCE [NAME] and -n: `deploy/web` or `deployment web`."""
    f = click.option("-n", "--namespace", default="default", show_default=True)(f)
    f = click.argument("name", required=False)(f)
    return click.argument("resource")(f)


def _key(resource: str, name: str | None, namespace: str) -> Key:
    """`deploy/web`, `deployment web`, `deployments.apps/web` -> the Deployment's key."""
    if "/" in resource and name is None:
        resource, name = resource.split("/", 1)
    word = resource.lower()
    kind = KIND_ALIASES.get(word) or KIND_ALIASES.get(word.split(".", 1)[0])
    if kind != "Deployment":
        raise click.ClickException(f'no rollout support for "{resource}" (only deployments)')
    if not name:
        raise click.ClickException("rollout needs a NAME: deploy/NAME")
    return Key("Deployment", namespace, name)


def _title(key: Key) -> str:
    return f"deployment.apps/{key.name}"


def _manifest(desired: str, key: Key) -> Path:
    """The file the Deployment is declared in (as `scale` finds it)."""
    from reconciler.manifests.loader import load_folder

    root = Path(desired)
    for o in load_folder(root).objects:
        if o.key == key:
            return manifest_path(root, o.position.file)
    raise click.ClickException(
        f'deployments.apps "{key.name}" not found in {root} (namespace {key.namespace})')


def _declares(path: Path, key: Key) -> bool:
    """Whether `path` still declares `key` (one file parsed, not the whole folder)."""
    try:
        find_object(path.read_text(encoding="utf-8"), key.kind, key.namespace, key.name)
    except (OSError, EditError):
        return False
    return True


def _optional_store(state: str) -> ReadStore | None:
    try:
        return open_reader(state)
    except StoreMissing:
        return None


def _history(key: Key, path: Path | None, state: str) -> list[Revision]:
    store = _optional_store(state)
    try:
        return revisions(store, key, path)
    finally:
        if store is not None:
            store.close()


def _edit(path: Path, key: Key, template: JSON) -> bool:
    """Write the new template into the manifest; False when the text did not change."""
    text = path.read_text(encoding="utf-8")
    try:
        edited = set_template(text, key.kind, key.namespace, key.name, template)
        written = template_of(edited, key.kind, key.namespace, key.name)
    except EditError as e:
        raise click.ClickException(f"{path}: {e}") from None
    if not plan.equal_ignore_hash(written, template):
        raise click.ClickException(f"{path}: the edit would not give the wanted template")
    if edited == text:
        return False
    write_atomically(path, edited)
    return True


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def rollout() -> None:
    """Watch, list, undo or restart a Deployment's rollout (GitOps: edits the manifest)."""


@rollout.command()
@_target
@click.option("--timeout", default="0", help="Give up after this long (e.g. 5m); 0: never.")
@click.option("-w/--no-watch", "--watch", default=True, show_default=True,
              help="Wait until the rollout ends.")
@state_option
def status(resource: str, name: str | None, namespace: str, timeout: str, watch: bool,
           state: str) -> None:
    """Wait for the rollout to finish: exit 0 when complete, 1 on its progress deadline."""
    from reconciler.service.config import parse_duration

    key = _key(resource, name, namespace)
    try:
        limit = parse_duration(timeout)
    except ValueError as e:
        raise click.ClickException(f"--timeout: {e}") from None
    deadline = time.monotonic() + limit if limit > 0 else None
    store = open_store(state)
    last = ""
    try:
        while True:
            o = store.get_object(key)
            if o is None:
                click.echo(f'Error from server (NotFound): deployments.apps "{key.name}" '
                           "not found", err=True)
                raise SystemExit(1)
            now = rollout_state(o)
            if now.failed:
                click.echo(f"error: {now.message}", err=True)
                raise SystemExit(1)
            if now.message != last:
                click.echo(now.message)
                last = now.message
            if now.done or not watch:
                return
            if deadline is not None and time.monotonic() >= deadline:
                click.echo("error: timed out waiting for the condition", err=True)
                raise SystemExit(1)
            time.sleep(POLL_SECONDS)
    finally:
        store.close()


@rollout.command()
@_target
@click.option("--revision", type=click.IntRange(min=0), default=0,
              help="Show the pod template of this revision.")
@desired_option
@state_option
def history(resource: str, name: str | None, namespace: str, revision: int, desired: str,
            state: str) -> None:
    """Revisions with the commit (or folder hash) and subject that introduced each template."""
    key = _key(resource, name, namespace)
    path = _manifest(desired, key) if Path(desired).is_dir() else None
    found = _history(key, path, state)
    if not found:
        raise click.ClickException(f'no rollout history found for deployment "{key.name}"')
    if revision:
        match = [r for r in found if r.number == revision]
        if not match:
            raise click.ClickException(f"unable to find the specified revision {revision}")
        d = Describer()
        pod_template_section(d, match[0].template)
        click.echo(f"{_title(key)} with revision #{revision}\n{d.render()}")
        return
    click.echo(_title(key))
    click.echo(output.table(
        ("REVISION", "REPLICASET", "SOURCE", "CHANGE-CAUSE"),
        [[str(r.number), r.replica_set or output.NONE, r.source or output.NONE,
          r.cause or output.NONE] for r in found]))


@rollout.command()
@_target
@click.option("--to-revision", type=click.IntRange(min=0), default=0,
              help="The revision to go back to; 0: the one before the current.")
@click.option("--commit", is_flag=True, help="Commit the change in the folder's git repository.")
@desired_option
@state_option
def undo(resource: str, name: str | None, namespace: str, to_revision: int, commit: bool,
         desired: str, state: str) -> None:
    """Put a previous revision's pod template back into the manifest file."""
    key = _key(resource, name, namespace)
    # The history (the store, git) is read before the folder is locked: an unreachable store
    # must not hold up the API's writes for its connect timeout. Read again if the object
    # moved to another file meanwhile.
    path = _manifest(desired, key)
    found = _history(key, path, state)
    # The API's writes and `reconciler scale` take the same lock: none starts from a text
    # another one replaces.
    with folder_lock(Path(desired)):
        if not _declares(path, key):  # moved meanwhile: find it again (a folder load)
            path = _manifest(desired, key)
            found = _history(key, path, state)
        current = defaulted(template_of(path.read_text(encoding="utf-8"), key.kind, key.namespace,
                                        key.name))
        now = next((r for r in found if plan.equal_ignore_hash(r.defaulted, current)), None)
        if to_revision:
            targets = [r for r in found if r.number == to_revision]
            if not targets:
                raise click.ClickException(f"unable to find specified revision {to_revision} "
                                           "in history")
        else:
            # kubectl: the newest revision before the current one.
            targets = [r for r in found if r is not now
                       and (now is None or r.number < now.number)][-1:]
            if not targets:
                raise click.ClickException(f'no rollout history found for deployment "{key.name}"')
        target = targets[0]
        if target is now or plan.equal_ignore_hash(target.defaulted, current):
            click.echo(f"{_title(key)} skipped rollback (current template already matches "
                       f"revision {target.number})")
            return
        changed = _edit(path, key, target.template)
    suffix = ""
    if commit and changed:
        message = f"Roll back deployment {key.name} to revision {target.number}"
        if target.source and not target.source.startswith("folder:"):
            message += f" ({target.source})"
        suffix = f" (committed {commit_file(path, message)})"
    click.echo(f"{_title(key)} rolled back{suffix}")


@rollout.command()
@_target
@click.option("--commit", is_flag=True, help="Commit the change in the folder's git repository.")
@desired_option
@state_option
def restart(resource: str, name: str | None, namespace: str, commit: bool, desired: str,
            state: str) -> None:
    """Set the restartedAt annotation of the pod template in the manifest: every pod is replaced.

    `--state` is accepted as by every command; restarting itself only edits the folder.
    """
    key = _key(resource, name, namespace)
    with folder_lock(Path(desired)):
        path = _manifest(desired, key)
        template = template_of(path.read_text(encoding="utf-8"), key.kind, key.namespace, key.name)
        if not isinstance(template.get("metadata"), dict):
            template["metadata"] = {}
        meta = template["metadata"]
        if not isinstance(meta.get("annotations"), dict):
            meta["annotations"] = {}
        meta["annotations"][RESTARTED_AT] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _edit(path, key, template)
    suffix = ""
    if commit:
        suffix = f" (committed {commit_file(path, f'Restart deployment {key.name}')})"
    click.echo(f"{_title(key)} restarted{suffix}")
