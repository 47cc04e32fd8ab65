"""`reconciler validate PATH...`: check manifests offline, as pre-commit hooks and CI run it.

Loads the named files and folders (the desired folder when none is named) with
reconciler.manifests.loader and prints one `FILE:LINE:COL: error|warning: MESSAGE`
line per problem. Exit 0 when there is no error (warnings allowed), 1 otherwise.
Warnings include everything accepted that has no effect here ("kind X is recorded
but not acted on", "field F has no effect here": reconciler.manifests.effects) and
apiVersions Kubernetes no longer serves: `--quiet` hides them, nothing else does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from reconciler.cli.options import SOPS_KEY_ENV, desired_option, state_option


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, not warnings.")
@click.option("--summary/--no-summary", default=True, show_default=True,
              help="End with a line counting objects, errors and warnings (on stderr).")
@desired_option
@state_option
def validate(paths: tuple[Path, ...], quiet: bool, summary: bool, desired: str,
             state: str) -> None:
    """Validate manifests: PATH... are files or folders (default: the desired folder).

    Offline: `--state` is accepted as by every command, and not read.
    """
    from reconciler.manifests.loader import load_paths

    targets = list(paths) or [Path(desired)]
    from reconciler.sources.sops import SopsDecryptor

    result = load_paths(Path.cwd(), targets,
                        decrypt=SopsDecryptor(os.environ.get(SOPS_KEY_ENV, "")))
    for diagnostic in result.diagnostics:
        if quiet and diagnostic.severity == "warning":
            continue
        click.echo(diagnostic.render())
    errors, warnings = len(result.errors), len(result.warnings)
    if summary:
        # Both streams often go to one pipe: the last diagnostic must be out before the summary.
        sys.stdout.flush()
        click.echo(f"{len(result.objects)} object(s) valid, {errors} error(s), "
                   f"{warnings} warning(s) in {len(result.failed_files)} failed file(s)"
                   if errors else
                   f"{len(result.objects)} object(s) valid, {warnings} warning(s)", err=True)
    sys.exit(1 if errors else 0)
