"""`reconciler plan`: what applying the desired folder would change, printed like `kubectl diff`.

Offline, read-only: loads the folder (`reconciler.manifests.loader.load_folder`),
diffs it against the objects recorded in the state store with the pure
`reconciler.planning.diff.diff`, and prints a unified diff of the YAML of each
changed object (LIVE = recorded, MERGED = desired, as kubectl names them),
then a summary with the changed field paths and, beside each object, what
in it is accepted but has no effect here (`! kind Ingress is recorded but not
acted on: ...`; the same lines `validate` warns with). Exit codes: 0; 3 with
`--exit-code` when something would change (CHANGES_EXIT: not terraform's 2,
which is click's usage error here, so a script cannot take a typo in its flags
for "changes pending"); 1 when a manifest has errors (the diagnostics go to
stderr, the plan is still printed); 2 for a usage error.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

import click

from reconciler.api.types import JSON, Key
from reconciler.cli.options import SOPS_KEY_ENV, desired_option, state_option
from reconciler.planning.diff import Change, Plan, RecordedView, diff

SIGNS = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}
CHANGES_EXIT = 3


def diff_name(key: Key, body: JSON) -> str:
    """kubectl diff's file name: `v1.Service.default.web`, `apps.v1.ReplicaSet.ns.x`."""
    version = str(body.get("apiVersion", "v1")).replace("/", ".")
    parts = [version, key.kind] + ([key.namespace] if key.namespace else []) + [key.name]
    return ".".join(parts)


def to_yaml(body: JSON | None) -> list[str]:
    if body is None:
        return []
    import yaml

    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
    return str(text).splitlines(keepends=True)


def unified(change: Change) -> str:
    """The `diff -u -N` block of one changed object."""
    from reconciler.views.configviews import masked

    # A Secret's values never reach the terminal (or a CI log): "(sensitive)" instead.
    old = masked(change.recorded.body if change.recorded else None)
    new = masked(change.desired.body if change.desired else None)
    name = diff_name(change.key, new or old or {})
    lines = difflib.unified_diff(to_yaml(old), to_yaml(new), f"LIVE/{name}", f"MERGED/{name}")
    return f"diff -u -N LIVE/{name} MERGED/{name}\n" + "".join(lines)


def render(plan: Plan) -> str:
    """Diff blocks of every change, then the summary and one line per object.

    An object with something accepted that has no effect here (its `notes`, from
    reconciler.manifests.effects) gets them beside it, changed or not: a plan never
    shows a Deployment as if it would run when nothing acts on it.
    """
    out = [unified(c) for c in plan.changes if c.action != "unchanged"]
    noted = sum(1 for c in plan.changes if c.desired is not None and c.desired.notes)
    summary = plan.summary()
    if noted:
        summary += f" {noted} with something that has no effect here (marked !)."
    out.append(summary + "\n")
    for c in plan.changes:
        notes = c.desired.notes if c.desired is not None else ()
        if c.action == "unchanged" and not notes:
            continue
        fields = f" ({', '.join(c.fields)})" if c.fields else ""
        out.append(f"  {SIGNS[c.action]} {c.key}{fields}\n")
        out += [f"      ! {note}\n" for note in notes]
    for rec in plan.stale:
        out.append(f"  ! {rec.key} kept as last applied: {rec.source_file} has errors\n")
    return "".join(out)


def recorded_views(state: str) -> dict[Key, RecordedView]:
    """What the store recorded; nothing when the store does not exist yet."""
    from reconciler.store.opener import open_reader
    from reconciler.store.schema_head import StoreMissing

    try:
        store = open_reader(state)
    except StoreMissing:
        return {}
    from reconciler.store.secrets import open_views, try_key_file

    try:
        return open_views(store.recorded(), try_key_file(state))
    finally:
        store.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@desired_option
@state_option
@click.option("--exit-code", is_flag=True,
              help=f"Exit {CHANGES_EXIT} when applying would change something "
              "(1: manifest errors, 2: usage error).")
def plan(desired: str, state: str, exit_code: bool) -> None:
    """Show what the service would create, update and delete for the desired folder."""
    from reconciler.manifests.loader import load_folder

    root = Path(desired)
    if not root.is_dir():
        raise click.ClickException(f"desired folder {desired} does not exist")
    from reconciler.sources.sops import SopsDecryptor

    result = load_folder(root, decrypt=SopsDecryptor(os.environ.get(SOPS_KEY_ENV, "")))
    for d in result.diagnostics:
        click.echo(d.render(), err=True)
    the_plan = diff(result, recorded_views(state))
    click.echo(render(the_plan), nl=False)
    if result.errors:
        sys.exit(1)
    if exit_code and the_plan.has_changes:
        sys.exit(CHANGES_EXIT)
