"""`reconciler api`: the Kubernetes API alone, read-only, on a store whose service may be down.

The same API `reconciler run` serves (reconciler/kubeapi) for kubectl and the
client libraries, as `reconciler ui` is for the dashboard: lists, gets, watches
and logs work; every write answers 405, since the service that turns them into
changes of the desired source is not running. Plain HTTP on loopback, or `--tls`
with the service's certificates and tokens (reconciler.kubeapi.certs, auth).
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import state_option


@click.command("api")
@click.option("--address", default="127.0.0.1:6443", show_default=True,
              help="host:port to serve on; loopback unless you say otherwise.")
@click.option("--hide-secret-data", is_flag=True, help="Serve Secrets without their data.")
@click.option("--tls", is_flag=True, help="HTTPS with the service's certificates and tokens "
              "(docs/kubectl.md); without it, plain HTTP on loopback only.")
@click.option("--pki", type=click.Path(file_okay=False, path_type=Path),
              default=Path("/etc/reconciler/pki"), show_default=True,
              help="With --tls: the CA and server certificate (made when missing).")
@click.option("--tokens", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("/etc/reconciler/tokens"), show_default=True,
              help="With --tls: the bearer tokens file.")
@state_option
def api(address: str, hide_secret_data: bool, tls: bool, pki: Path, tokens: Path,
        state: str) -> None:
    """Serve the read-only Kubernetes API of the state store (for kubectl)."""
    from reconciler.cli.get import open_store
    from reconciler.kubeapi.certs import serve_options
    from reconciler.kubeapi.context import ApiContext
    from reconciler.kubeapi.server import serve_forever, split_address

    try:
        split_address(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--address") from None
    open_store(state).close()  # a missing store is an error here, not at the first request
    ctx = ApiContext(state=state, read_only=True, show_secret_data=not hide_secret_data)
    try:
        extra = serve_options(ctx, address, tls=tls, pki_dir=pki, tokens=tokens)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    scheme = "https" if tls else "http"
    click.echo(f"serving the Kubernetes API of {state} on {scheme}://{address}/ (read-only)",
               err=True)
    serve_forever(ctx, address, **extra)
