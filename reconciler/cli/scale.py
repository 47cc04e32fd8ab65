"""`reconciler scale`: GitOps scaling, by editing `spec.replicas` in the manifest file.

There is no hidden imperative state: the command changes only the replicas
value in the file the object is declared in (every other byte kept), and the
running service converges from that change like from any other edit. With
`--commit`, the change is committed in the folder's git repository.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import click

from reconciler.api.manifest_edit import EditError, set_replicas
from reconciler.api.types import KIND_ALIASES
from reconciler.cli.options import desired_option, state_option
from reconciler.kubeapi.sourcewrite import SourceWriteError, folder_lock, inside, write_atomically
from reconciler.manifests.loader import load_folder

# drain and rollout write with these
__all__ = ["commit_file", "manifest_path", "scale", "write_atomically"]

SCALABLE = ("ReplicationController", "ReplicaSet", "Deployment", "StatefulSet")


def _commit(path: Path, kind: str, name: str, replicas: int) -> str:
    return commit_file(path, f"Scale {kind.lower()} {name} to {replicas} replicas")


def commit_file(path: Path, message: str) -> str:
    """`git commit` of that one file in its folder's repository; the new short SHA."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=path.parent, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise click.ClickException(
                f"git {args[0]}: {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout.strip()

    git("add", "--", path.name)
    git("commit", "-q", "-m", message, "--", path.name)
    return git("rev-parse", "--short", "HEAD")


def manifest_path(root: Path, rel: str) -> Path:
    """The file to write for the manifest `rel` under `root`: where it points when it is a
    symlink (replacing the link with a file would cut it off), as the API writes it."""
    try:
        return inside(root, rel)
    except SourceWriteError as e:
        raise click.ClickException(str(e)) from None


def _set_replicas(root: Path, kind: str, namespace: str, name: str,
                  replicas: int) -> tuple[Path, bool]:
    """The declaring file, with its replicas set (written only if changed), and whether."""
    found = [
        o
        for o in load_folder(root).objects
        if o.key.kind == kind and o.key.name == name and o.key.namespace == namespace
    ]
    if not found:
        raise click.ClickException(
            f'{kind.lower()}s "{name}" not found in {root} (namespace {namespace})'
        )
    path = manifest_path(root, found[0].position.file)
    text = path.read_text(encoding="utf-8")
    try:
        edited = set_replicas(text, kind, namespace, name, replicas)
    except EditError as e:
        raise click.ClickException(f"{path}: {e}") from None
    if edited != text:
        write_atomically(path, edited)
    return path, edited != text


@click.command()
@click.argument("kind")
@click.argument("name")
@click.option("--replicas", type=click.IntRange(min=0), required=True, help="The new count.")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--commit", is_flag=True, help="Commit the change in the folder's git repository.")
@desired_option
@state_option
def scale(
    kind: str, name: str, replicas: int, namespace: str, commit: bool, desired: str, state: str
) -> None:
    """Set the replicas of an RC, RS, Deployment or StatefulSet in its manifest file.

    `--state` is accepted as by every command; scaling itself only edits the folder.
    """
    resolved = KIND_ALIASES.get(kind.lower(), kind)
    if resolved not in SCALABLE:
        raise click.ClickException(f'the server doesn\'t have a resource type "{kind}" that scales')
    root = Path(desired)
    # The API's writes take the same lock: neither starts from a text the other replaces.
    with folder_lock(root):
        path, changed = _set_replicas(root, resolved, namespace, name, replicas)
    label = {"ReplicationController": "replicationcontroller"}.get(resolved, resolved.lower())
    suffix = ""
    if commit and changed:
        suffix = f" (committed {_commit(path, resolved, name, replicas)})"
    click.echo(f"{label}/{name} scaled{suffix}")
