"""`reconciler get`: kubectl-style tables (or -o json|yaml|name) read from the state store only.

Part of the CLI read side; works while the service is down. Each resource is a
`Listing` of `reconciler.views.listings`; `reconciler.views.output` holds the
cell rules. Objects whose manifest currently fails to load show `yes` in a trailing
STALE column, which appears only when at least one listed object is stale: the
table is kubectl's otherwise.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from reconciler.api import k8s
from reconciler.api.selectors import LabelPredicate
from reconciler.api.types import KIND_ALIASES
from reconciler.cli.completion import complete_names, complete_resources
from reconciler.cli.options import state_option
from reconciler.store.opener import open_reader
from reconciler.store.reader import ReadStore
from reconciler.views import output
from reconciler.views.listings import (
    ALL,
    LISTINGS,
    Listing,
    Query,
    Row,
)

__all__ = ["get", "open_store"]

REVISION_WORDS = {"revision", "revisions", "rev"}


def open_store(state: str) -> ReadStore:
    """Open the store read-side: a missing file is an error, not a new empty store."""
    from reconciler.store.schema_head import StoreMissing

    try:
        return open_reader(state)
    except StoreMissing as exc:
        raise click.ClickException(f"{exc} (is the service pointed at another --state?)") from None


def selector_predicate(text: str | None) -> LabelPredicate | None:
    """`-l` text as a label predicate, through the shared selector parser."""
    if not text:
        return None
    from reconciler.api.selectors import SelectorError, parse

    try:
        sel = parse(text)
    except SelectorError as exc:
        raise click.ClickException(str(exc)) from None
    return sel.matches


def labels_cell(row: Row) -> str:
    """LABELS of --show-labels: the object's labels as kubectl prints them."""
    meta = row.build().get("metadata") or {}
    return output.labels_text(meta.get("labels") or {})


def render(listing: Listing, rows: list[Row], mode: str | None, with_ns: bool, prefix: bool,
           show_labels: bool = False) -> str:
    """Rows as a table (optionally NAMESPACE-first, names prefixed for `get all`)."""
    headers = list(listing.headers)
    if listing.kind == "Event":
        headers, name_col = headers, False
    else:
        name_col = True
    if mode == "wide":
        headers += listing.wide
    stale = any(r.stale for r in rows)
    if stale:
        headers.append("STALE")
    if show_labels:
        headers.append("LABELS")
    if with_ns and listing.namespaced:
        headers.insert(0, "NAMESPACE")
    lines = []
    for r in rows:
        name = f"{listing.short}/{r.name}" if prefix else r.name
        cells = ([name] if name_col else []) + r.cells + (r.wide if mode == "wide" else [])
        if stale:
            cells.append("yes" if r.stale else "no")
        if show_labels:
            cells.append(labels_cell(r))
        if with_ns and listing.namespaced:
            cells.insert(0, r.namespace)
        lines.append(cells)
    return output.table(headers, lines)


def resolve_many(resources: str) -> list[Listing] | str:
    """`po,svc` as Listings in the order given; "all" and "revision" stand alone."""
    words = [w for w in resources.split(",") if w]
    if len(words) == 1:
        one = resolve(words[0])
        return one if isinstance(one, str) else [one]
    targets = [resolve(w) for w in words]
    if any(isinstance(t, str) for t in targets):
        raise click.ClickException(f'"{resources}": all and revision cannot be combined')
    return [t for t in targets if isinstance(t, Listing)]


def resolve(resource: str) -> Listing | str:
    """A Listing for a resource word, "all", "revision", or an error."""
    word = resource.lower()
    if word == "all" or word in REVISION_WORDS:
        return word if word == "all" else "revision"
    kind = KIND_ALIASES.get(word) or KIND_ALIASES.get(word.split(".", 1)[0])
    if kind is None or kind not in LISTINGS:
        raise click.ClickException(f'the server doesn\'t have a resource type "{resource}"')
    return LISTINGS[kind]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("resource", shell_complete=complete_resources)
@click.argument("names", nargs=-1, shell_complete=complete_names)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-A", "--all-namespaces", is_flag=True, help="List across every namespace.")
@click.option("-l", "--selector", default=None, help="Label selector, e.g. app=web,tier!=db.")
@click.option("-o", "--output", "mode", type=click.Choice(["wide", "yaml", "json", "name"]))
@click.option("--show-labels", is_flag=True, help="A last column with the labels.")
@state_option
def get(
    resource: str,
    names: tuple[str, ...],
    namespace: str,
    all_namespaces: bool,
    selector: str | None,
    mode: str | None,
    show_labels: bool,
    state: str,
) -> None:
    """Show pods, rc, rs, svc, endpoints, nodes, events, all, several (po,svc), or the
    applied revision."""
    if "/" in resource:
        resource, name = resource.split("/", 1)
        names = (name, *names)
    target = resolve_many(resource)
    if names and not isinstance(target, str) and len(target) > 1:
        # As kubectl: a name means one object, so it takes one kind (or KIND/NAME each).
        raise click.UsageError("there is more than one resource type: give NAMEs with one")
    store = open_store(state)
    if any(t.kind == "Secret" for t in target if isinstance(t, Listing)) \
            and mode in ("yaml", "json"):
        from reconciler.store.secrets import try_key_file

        # As kubectl's: the data in base64, to whoever may read it (here: the key file).
        store.sealer = try_key_file(state)
    try:
        if target == "revision":
            _print_revision(store, mode)
            return
        q = Query(
            None if all_namespaces else namespace, selector_predicate(selector), datetime.now(UTC)
        )
        listings = [LISTINGS[k] for k in ALL] if target == "all" else target
        assert not isinstance(listings, str)
        # As kubectl's `get all` and `get po,svc`: names prefixed by kind when mixed.
        _print(store, listings, q, names, mode, all_namespaces, len(listings) > 1, show_labels)
    finally:
        store.close()


def _print(
    store: ReadStore,
    listings: list[Listing],
    q: Query,
    names: tuple[str, ...],
    mode: str | None,
    all_namespaces: bool,
    prefixed: bool,
    show_labels: bool = False,
) -> None:
    sections: list[tuple[Listing, list[Row]]] = []
    for listing in listings:
        rows = listing.load(store, q)
        if names:
            # Cluster-scoped rows (nodes) have no namespace: `-n` does not filter them.
            by_name = {r.name: r for r in rows if not listing.namespaced
                       or r.namespace == (q.namespace or r.namespace)}
            missing = [n for n in names if n not in by_name]
            if missing:
                for n in missing:
                    click.echo(
                        f'Error from server (NotFound): {listing.resource} "{n}" not found',
                        err=True,
                    )
                sys.exit(1)
            rows = [by_name[n] for n in names]
        if rows:
            sections.append((listing, rows))
    if not sections and mode in ("json", "yaml"):
        # Scripts parse the output: an empty List, as kubectl prints, not a sentence.
        click.echo(output.dump(k8s.as_list([]), mode))
        return
    if not sections:
        where = (
            ""
            if q.namespace is None or not listings[0].namespaced
            else (f" in {q.namespace} namespace")
        )
        click.echo(f"No resources found{where}.", err=True)
        return
    if mode in ("json", "yaml"):
        items = [r.build() for _, rows in sections for r in rows]
        single = len(names) == 1 and len(items) == 1
        click.echo(output.dump(items[0] if single else k8s.as_list(items), mode))
        return
    if mode == "name":
        for listing, rows in sections:
            for r in rows:
                click.echo(f"{listing.short}/{r.name}")
        return
    texts = [render(lst, rows, mode, all_namespaces, prefixed, show_labels)
             for lst, rows in sections]
    click.echo("\n\n".join(texts))


def _print_revision(store: ReadStore, mode: str | None) -> None:
    revisions = store.revisions(1)
    if not revisions:
        click.echo("No revision applied yet.", err=True)
        return
    r = revisions[0]
    if mode in ("json", "yaml"):
        value = {
            "revision": r.revision,
            "source": r.source,
            "appliedAt": k8s.timestamp(r.applied_at),
        }
        click.echo(output.dump(value, mode))
        return
    click.echo(
        output.table(
            ("REVISION", "SOURCE", "APPLIED"), [[r.revision, r.source, output.age(r.applied_at)]]
        )
    )
