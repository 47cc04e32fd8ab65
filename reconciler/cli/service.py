"""Service commands: `sync`, `config show`, `install --systemd`, `cluster-info`.

The CLI side of the long-running service (`reconciler run` lives in
reconciler.cli.run): ask it for an immediate git fetch, show the effective
configuration, install the systemd unit and default files, and summarise
where the cluster's parts are, as `kubectl cluster-info` does.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from reconciler.cli.options import state_option
from reconciler.service.config import Config, ConfigError, load_config, render
from reconciler.service.requests import SyncError, request_sync
from reconciler.service.systemd import DEFAULT_CONFIG, DEFAULT_ENVFILE, unit_text
from reconciler.sources.git import redact

STATE_DIR = "/var/lib/reconciler"
UNIT_PATH = "etc/systemd/system/reconciler.service"

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    envvar="RECONCILER_CONFIG", default=None, help="TOML configuration file.",
)


def _load(config_path: Path | None, ctx: click.Context | None = None) -> Config:
    """The effective config; an explicitly given --state wins, as in `run`."""
    overrides: dict[str, object] = {}
    if ctx is not None and ctx.get_parameter_source("state") in (
        click.core.ParameterSource.COMMANDLINE,
    ):
        overrides["state"] = ctx.params["state"]
    try:
        return load_config(config_path, os.environ, overrides)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


@click.command()
@state_option
@config_option
@click.pass_context
def sync(ctx: click.Context, state: str, config_path: Path | None) -> None:
    """Ask the running service to fetch its git source now."""
    target = _load(config_path, ctx).state if config_path else state
    try:
        # Through the store when an instance is active (on any host), else its pid file.
        asked = request_sync(target, "sync", wait=5.0)
    except SyncError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"sync requested from the service ({asked})")


@click.group()
def config() -> None:
    """Inspect the service's configuration."""


@config.command("show")
@config_option
@click.option("--state", default=None, help="Show the configuration with this state store.")
@click.option("--desired", default=None, help="Show the configuration with this folder.")
@click.pass_context
def config_show(ctx: click.Context, config_path: Path | None, state: str | None,
                desired: str | None) -> None:
    """Print the effective configuration, each value with where it came from.

    `--state` and `--desired` count as flags, as they would for `reconciler run`.
    """
    flags = {k: v for k, v in (("state", state), ("desired", desired)) if v is not None}
    try:
        config = load_config(config_path, os.environ, flags)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    click.echo(redact(render(config)), nl=False)


def default_config_text() -> str:
    """The /etc/reconciler/config.toml `install` writes (also systemd/config.toml)."""
    header = (
        "# /etc/reconciler/config.toml: the reconciler service's configuration.\n"
        "# RECONCILER_* variables (/etc/reconciler/environment) override it, and flags\n"
        "# override both; `reconciler config show --config FILE` prints the result.\n"
        "# Durations: 30s, 5m, 500ms, 1h30m. Commented lines show the defaults.\n\n"
        f'desired = "{STATE_DIR}/desired"\n'
        f'state = "{STATE_DIR}/state.db"\n\n'
    )
    body = render(load_config(), commented=True)
    # desired and state are set above with absolute paths; drop their default lines.
    lines = body.splitlines()
    skip = {"#desired = ", "#state = "}
    keep = [
        ln for i, ln in enumerate(lines)
        if not any(ln.startswith(s) for s in skip)
        and not (i + 1 < len(lines) and any(lines[i + 1].startswith(s) for s in skip))
    ]
    # An installed service serves its Kubernetes API over TLS, with the certificates and
    # kubeconfig `install` makes (docs/kubectl.md); plain HTTP stays the bare default.
    keep = ["tls = true" if ln == "#tls = false" else ln for ln in keep]
    return header + "\n".join(keep) + "\n"


# The /etc/reconciler/environment `install` writes (also systemd/environment).
ENVIRONMENT = """\
# /etc/reconciler/environment: read by systemd (EnvironmentFile=) before starting
# the service. Values here override /etc/reconciler/config.toml; flags override both.
# Top-level keys are RECONCILER_<KEY>; keys in a section are
# RECONCILER_<SECTION>_<KEY> (or RECONCILER_<SECTION>__<KEY>). See
# `reconciler config show` for every key and where its value came from.
#
#RECONCILER_RESYNC_INTERVAL=30s
#RECONCILER_LOG_LEVEL=info
#RECONCILER_GIT_URL=/srv/git/desired.git
#RECONCILER_GIT_BRANCH=main
#RECONCILER_FLUENTD_ADDRESS=127.0.0.1:24224
#RECONCILER_METRICS_ADDRESS=127.0.0.1:9464
"""


def reconciler_script() -> str:
    """The `reconciler` script of the running interpreter (its venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "reconciler"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("reconciler")
    return str(Path(found).absolute()) if found else "/usr/local/bin/reconciler"


@click.command()
@click.option("--systemd", "systemd_", is_flag=True, required=True,
              help="Install the systemd unit and default configuration.")
@click.option("--prefix", type=click.Path(file_okay=False, path_type=Path), default=Path("/"),
              show_default=True, help="Root to install under (a staging folder in tests).")
@click.option("--force", is_flag=True, help="Overwrite an existing config and environment.")
def install(systemd_: bool, prefix: Path, force: bool) -> None:
    """Install systemd/reconciler.service and default /etc/reconciler files."""
    if not systemd_:
        raise click.UsageError("only --systemd is supported")
    script = reconciler_script()
    files = [
        (UNIT_PATH, unit_text(exec_start=script), True, 0o644),
        # 0600 like state.db: a git URL in it may carry a token (git.url = https://user:token@...)
        (DEFAULT_CONFIG.lstrip("/"), default_config_text(), force, 0o600),
        (DEFAULT_ENVFILE.lstrip("/"), ENVIRONMENT, force, 0o600),
    ]
    for rel, text, overwrite, mode in files:
        target = prefix / rel
        if target.exists() and not overwrite:
            click.echo(f"kept      {target} (exists; --force to replace)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        existed = target.exists()
        target.touch(mode=mode)
        target.chmod(mode)  # before the content goes in: never readable by others, even briefly
        target.write_text(text)
        click.echo(f"{'replaced' if existed else 'installed':<9} {target}")
    desired = prefix / STATE_DIR.lstrip("/") / "desired"
    if not desired.is_dir():
        desired.mkdir(parents=True)
        desired.parent.chmod(0o700)
        click.echo(f"created   {desired}")
    # The key sealing Secrets in the store: made here, 0600, so it exists before the first
    # start and can be backed up with the configuration (the service makes it too if missing).
    key = prefix / STATE_DIR.lstrip("/") / "state.db.key"
    if not key.exists():
        from reconciler.store.secrets import load_key_file

        load_key_file(key, create=True)
        click.echo(f"created   {key} (0600: the key sealing Secrets in the store)")
    _install_api_credentials(prefix)
    click.echo(f"ExecStart runs {script}")
    if prefix == Path("/"):
        click.echo("next: systemctl daemon-reload && systemctl enable --now reconciler")


TOKENS = """\
# /etc/reconciler/tokens: bearer tokens of the Kubernetes API (docs/kubectl.md), one
# TOKEN,USER,ROLE a line; ROLE is read-only or read-write. Read again when it changes.
# Make a token with: openssl rand -hex 24
#0123456789abcdef0123456789abcdef0123456789abcdef,dashboard,read-only
"""


def _install_api_credentials(prefix: Path) -> None:
    """The API's CA, certificates, admin kubeconfig and tokens file, where missing."""
    from reconciler.kubeapi.certs import (
        DEFAULT_KUBECONFIG,
        DEFAULT_PKI_DIR,
        Pki,
        ensure_pki,
        local_url,
        write_kubeconfig,
    )

    pki_dir = prefix / str(DEFAULT_PKI_DIR).lstrip("/")
    # The address the installed service will use: its config file (kept from an earlier
    # install, or just written) and the environment, as `run` reads them.
    try:
        address = load_config(prefix / DEFAULT_CONFIG.lstrip("/"), os.environ).api.address
    except ConfigError:
        address = ""
    address = address or "127.0.0.1:6443"
    for path in ensure_pki(pki_dir, [address.rpartition(":")[0].strip("[]")]):
        click.echo(f"created   {path}")
    kubeconfig = prefix / str(DEFAULT_KUBECONFIG).lstrip("/")
    if write_kubeconfig(kubeconfig, local_url(address), Pki(pki_dir)):
        click.echo(f"created   {kubeconfig} (0600: kubectl --kubeconfig {DEFAULT_KUBECONFIG})")
    else:
        click.echo(f"kept      {kubeconfig} (exists)")
    tokens = prefix / "etc/reconciler/tokens"
    if not tokens.exists():
        tokens.touch(mode=0o600)
        tokens.chmod(0o600)
        tokens.write_text(TOKENS)
        click.echo(f"created   {tokens} (0600: bearer tokens, none yet)")


@click.command("cluster-info")
@state_option
@config_option
@click.pass_context
def cluster_info(ctx: click.Context, state: str, config_path: Path | None) -> None:
    """Where the store, metrics, DNS, fluentd and nodes are, read from config and store."""
    cfg = _load(config_path, ctx)
    bold = click.style
    lines = [f"{bold('State store', fg='green')} is at {bold(cfg.state, fg='yellow')}"]
    # Imported here: SQLAlchemy is only paid for by the command that reads the store.
    from reconciler.store import Store, StoreMissing

    nodes: list[str] = []
    revision = ""
    try:
        with Store.open(cfg.state, create=False) as store:
            # The id its containers carry: what a ForeignContainers condition names.
            lines[0] += f" (cluster id {store.cluster_id()})"
            nodes = [
                f"{n.name} ({'Ready' if n.ready else 'NotReady'}, {n.engine_url})"
                for n in store.list_nodes()
            ]
            applied = store.revision()
            revision = f"{applied.revision} from {applied.source}" if applied else ""
    except StoreMissing:
        lines[0] += " (not created yet: the service has not run)"
    if cfg.metrics.address:
        lines.append(f"{bold('Metrics', fg='green')} are served at "
                     f"{bold(f'http://{cfg.metrics.address}/metrics', fg='yellow')}")
    if cfg.api.address:
        scheme = "https" if cfg.api.tls else "http"
        api = (f"{bold('Kubernetes API', fg='green')} is served at "
               f"{bold(f'{scheme}://{cfg.api.address}', fg='yellow')}")
        if cfg.api.tls and cfg.api.kubeconfig:
            api += f" (kubectl --kubeconfig {cfg.api.kubeconfig})"
        lines.append(api)
    dns = f"{cfg.network.dns_ip}:{cfg.network.dns_port}"
    lines.append(f"{bold('Cluster DNS', fg='green')} is at {bold(dns, fg='yellow')}"
                 f" (domain {cfg.network.cluster_domain})")
    if cfg.fluentd.address:
        lines.append(f"{bold('fluentd', fg='green')} receives logs at "
                     f"{bold(cfg.fluentd.address, fg='yellow')}")
    source = (f"git {redact(cfg.git.url)} ({cfg.git.branch})" if cfg.git.url
              else f"folder {cfg.desired}")
    lines.append(f"{bold('Desired state', fg='green')} comes from {bold(source, fg='yellow')}")
    if revision:
        lines.append(f"{bold('Applied revision', fg='green')}: {revision}")
    for node in nodes:
        lines.append(f"{bold('Node', fg='green')} {node}")
    click.echo("\n".join(lines))
    click.echo("\nTo see the configuration in full, use 'reconciler config show'.")
