"""Shell completion: `reconciler completion bash|zsh|fish` and completers of object names.

Click's own completion (the `_RECONCILER_COMPLETE` protocol) does the shell side
for the three shells, so no extra package is needed: the script printed here
calls `reconciler` back with that variable set, and click asks the parameters'
completers. The completers below read the state store (found as every command
finds it: `reconciler.cli.options.discover_state`), so `reconciler describe pod
<TAB>` offers the recorded pods. A store that cannot be read completes nothing:
completion must never print an error into the user's command line.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from click.shell_completion import CompletionItem, get_completion_class

from reconciler.cli.options import discover_state

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_RECONCILER_COMPLETE"


def _resources() -> dict[str, str]:
    """Completable resource words (kubectl's plural names) -> kind."""
    from reconciler.views.listings import LISTINGS

    return {listing.resource: kind for kind, listing in LISTINGS.items()}


def complete_resources(ctx: click.Context, param: click.Parameter, incomplete: str
                       ) -> list[CompletionItem]:
    """RESOURCE words: pods, services, deployments, ... (and `all` for get)."""
    words = sorted([*_resources(), "all"]) if ctx.info_name == "get" else sorted(_resources())
    return [CompletionItem(w) for w in words if w.startswith(incomplete)]


def _kind_of(ctx: click.Context) -> str | None:
    from reconciler.api.types import KIND_ALIASES

    resource = ctx.params.get("resource")
    if resource is None:  # logs and exec: POD
        return "Pod"
    word = str(resource).lower().split(",", 1)[0].split(".", 1)[0]
    return KIND_ALIASES.get(word)


def object_names(state: str, kind: str, namespace: str | None) -> list[str]:
    """Names of the recorded objects of `kind` (namespace None: every namespace)."""
    from reconciler.store.opener import open_reader
    from reconciler.views.describe_generic import object_name, rows_of
    from reconciler.views.listings import LISTINGS

    if kind not in LISTINGS:
        return []
    store = open_reader(state)
    try:
        rows = rows_of(store, kind, namespace, datetime.now(UTC))
        return sorted({object_name(kind, r) for r in rows} - {""})
    finally:
        store.close()


def complete_names(ctx: click.Context, param: click.Parameter, incomplete: str
                   ) -> list[CompletionItem]:
    """NAME words: the recorded objects of the kind typed before, in the -n namespace."""
    kind = _kind_of(ctx)
    if kind is None:
        return []
    state = ctx.params.get("state")
    namespace = None if ctx.params.get("all_namespaces") else \
        str(ctx.params.get("namespace") or "default")
    try:
        names = object_names(discover_state(state if isinstance(state, str) else None),
                             kind, namespace)
    except Exception:
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script of a shell (bash, zsh or fish).

    \b
    bash: eval "$(reconciler completion bash)"   (in ~/.bashrc)
    zsh:  eval "$(reconciler completion zsh)"    (in ~/.zshrc)
    fish: reconciler completion fish > ~/.config/fish/completions/reconciler.fish
    """
    from reconciler.cli.main import cli

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "reconciler", COMPLETE_VAR).source())
