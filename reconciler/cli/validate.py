"""`reconciler validate PATH...`: check manifests offline, as pre-commit hooks and CI run it.

Loads the named files and folders (the desired folder when none is named) with
reconciler.manifests.loader and prints one `FILE:LINE:COL: error|warning: MESSAGE`
line per problem, then the summary on stderr on a line of its own. Exit 0 when
there is no error (warnings allowed), 1 otherwise. Warnings include everything
accepted that has no effect here ("kind X is recorded but not acted on", "field
F has no effect here": reconciler.manifests.effects) and apiVersions Kubernetes
no longer serves: `--quiet` hides them, nothing else does.

What the installation allows is checked too (reconciler.manifests.siterules):
hostPaths against the runtime's allow-list of the configuration file (the
defaults, which allow none, without one), `replicas` against `--max-replicas`,
and nodeSelectors against the nodes registered in the store, when the store
exists (it is only read, and a missing store is no error).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from reconciler.cli.options import SOPS_KEY_ENV, desired_option, installed_config, state_option
from reconciler.manifests.siterules import DEFAULT_MAX_REPLICAS, SiteChecks


def _host_path_allow() -> tuple[str, ...]:
    """runtime.host_path_allow of the installed configuration, or the default (none)."""
    from reconciler.service.config import Config, ConfigError, load_config

    path = installed_config()
    if path is None:
        return tuple(Config().runtime.host_path_allow)
    try:
        return tuple(load_config(path, {}, {}).runtime.host_path_allow)
    except ConfigError as e:
        raise click.ClickException(f"configuration: {e}") from None


def _registered_nodes(state: str) -> tuple[Mapping[str, str], ...] | None:
    """Labels of the store's nodes; None when there is no store to read."""
    from reconciler.api.taints import node_labels
    from reconciler.store.opener import open_reader

    try:
        reader = open_reader(state)
    except Exception:  # no store (or not one we can read): nothing to check against
        return None
    try:
        return tuple(node_labels(n) for n in reader.list_nodes())
    except Exception:
        return None
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, not warnings.")
@click.option("--summary/--no-summary", default=True, show_default=True,
              help="End with a line counting objects, errors and warnings (on stderr).")
@click.option("--max-replicas", type=click.IntRange(min=0), default=DEFAULT_MAX_REPLICAS,
              show_default=True, help="Warn when replicas is above this.")
@desired_option
@state_option
def validate(paths: tuple[Path, ...], quiet: bool, summary: bool, max_replicas: int,
             desired: str, state: str) -> None:
    """Validate manifests: PATH... are files or folders (default: the desired folder).

    `--state` is only read for the registered nodes (nodeSelector checks), when it exists.
    """
    from reconciler.manifests.loader import load_paths

    targets = list(paths) or [Path(desired)]
    from reconciler.sources.sops import SopsDecryptor

    checks = SiteChecks(max_replicas, _host_path_allow(), _registered_nodes(state))
    result = load_paths(Path.cwd(), targets, checks=checks,
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
