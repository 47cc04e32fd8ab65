"""`reconciler run`: the long-running service, in the foreground.

Entry of the service process (systemd's ExecStart, `make run`). Builds the
effective configuration (file, then environment, then these flags) and hands
it to `reconciler.service.app.Service`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from reconciler.service.config import ConfigError, load_config


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="RECONCILER_CONFIG",
    help="TOML configuration file.",
)
@click.option("--desired", default=None, help="Folder of desired manifests.")
@click.option("--state", default=None, help="State store: SQLite path or SQLAlchemy URL.")
@click.option(
    "--git", "git_url", default=None, help="Apply a git repository (URL or path) instead."
)
@click.option("--branch", default=None, help="Branch of --git whose head is applied.")
@click.option("--interval", default=None, help="How often to fetch --git (e.g. 30s).")
@click.option("--resync", default=None, help="Full resync period (e.g. 30s).")
@click.option("--fluentd", default=None, help="fluentd forward address host:port.")
@click.option("--metrics", default=None, help="Metrics address host:port ('' to turn off).")
@click.option("--proxy-mode", type=click.Choice(["iptables", "userspace", "agents", "off"]),
              default=None, help="agents: each machine's `reconciler agent` serves it.")
@click.option("--log-level", default=None)
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Log lines as text (journald-aware, the default) or one JSON object each.")
def run(
    config_path: Path | None,
    desired: str | None,
    state: str | None,
    git_url: str | None,
    branch: str | None,
    interval: str | None,
    resync: str | None,
    fluentd: str | None,
    metrics: str | None,
    proxy_mode: str | None,
    log_level: str | None,
    log_format: str | None,
) -> None:
    """Run the service: watch, validate, plan, converge, proxy, ship logs."""
    flags = {
        "desired": desired,
        "state": state,
        "git.url": git_url,
        "git.branch": branch,
        "git.interval": interval,
        "resync_interval": resync,
        "fluentd.address": fluentd,
        "metrics.address": metrics,
        "network.proxy_mode": proxy_mode,
        "log_level": log_level,
        "log_format": log_format,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    try:
        config = load_config(config_path, os.environ, overrides)
    except ConfigError as e:
        raise click.ClickException(f"configuration: {e}") from None
    if not config.git.url and not Path(config.desired).is_dir():
        raise click.ClickException(f"desired folder {config.desired} does not exist")

    from reconciler.service.app import Service

    sys.exit(Service(config).run())
