"""Options every command shares: where the state store and the desired folder are.

`--state` is found as users expect (issue 21): the flag, then RECONCILER_STATE,
then RECONCILER_STATE in the environment file the unit reads (EnvironmentFile=:
RECONCILER_ENVIRONMENT_FILE, else /etc/reconciler/environment), then the `state` key
of the configuration file `install --systemd` writes (RECONCILER_CONFIG, else
/etc/reconciler/config.toml, when it exists), then ./state.db; the order in which the
service itself settles its store, so `reconciler get pods` works after installing,
without flags, on the store the service uses.
`--desired` is the flag, RECONCILER_DESIRED, then ./desired.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

DEFAULT_STATE = "state.db"
DEFAULT_DESIRED = "desired"
# Where `install --systemd` puts the configuration (reconciler.service.systemd.DEFAULT_CONFIG;
# not imported from there: that module is the service's, and `get` must stay light).
INSTALLED_CONFIG = "/etc/reconciler/config.toml"
INSTALLED_ENVFILE = "/etc/reconciler/environment"  # ...systemd.DEFAULT_ENVFILE


def installed_config() -> Path | None:
    """The configuration file the CLI reads the store from: RECONCILER_CONFIG, else the
    installed one; None when neither exists."""
    named = os.environ.get("RECONCILER_CONFIG")
    path = Path(named or INSTALLED_CONFIG)
    return path if path.is_file() else None


def environment_file_value(key: str) -> str | None:
    """`key` as the unit's environment file sets it, read the way systemd's
    EnvironmentFile= does (KEY=VALUE lines, # and ; comments, quotes removed); None
    when unset or the file is absent or unreadable (it is root's, mode 0600: a user
    who cannot read it falls through to the configuration file, as before)."""
    path = Path(os.environ.get("RECONCILER_ENVIRONMENT_FILE") or INSTALLED_ENVFILE)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if name == key:
            found = value  # the last assignment wins, as in systemd
    return found or None


def discover_state(given: str | None) -> str:
    """The store to open: `given` (flag or RECONCILER_STATE), the unit's environment file's
    RECONCILER_STATE, the configuration file's `state`, else ./state.db."""
    if given:
        return given
    from_unit = environment_file_value("RECONCILER_STATE")
    if from_unit:
        if "://" not in from_unit and not Path(from_unit).is_absolute():
            # The service under systemd refuses it too (service.config._anchor_paths): a
            # store relative to whichever folder the CLI runs in would be another one.
            raise click.ClickException(
                f"RECONCILER_STATE={from_unit} in the unit's environment file is a relative "
                "path; give an absolute one")
        return from_unit
    path = installed_config()
    if path is not None:
        from reconciler.service.config import ConfigError, load_config

        try:
            # No environment: RECONCILER_STATE was already looked at, and systemd's
            # variables of this shell must not re-anchor the file's paths.
            return load_config(path, {}, {}).state
        except ConfigError as e:
            raise click.ClickException(f"configuration: {e}") from None
    return DEFAULT_STATE


def _state_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    return discover_state(value)


def state_option(f: F) -> F:
    """`--state PATH_OR_URL`: a SQLite path or any SQLAlchemy URL, found as described above."""
    return click.option(
        "--state",
        envvar="RECONCILER_STATE",
        default=None,
        callback=_state_callback,
        help="State store: a SQLite file path or a SQLAlchemy URL. [default: $RECONCILER_STATE,"
        " else RECONCILER_STATE of /etc/reconciler/environment, else `state` of"
        " $RECONCILER_CONFIG or /etc/reconciler/config.toml, else state.db]",
    )(f)


def desired_option(f: F) -> F:
    """`--desired DIR`: the folder of manifests."""
    return click.option(
        "--desired",
        envvar="RECONCILER_DESIRED",
        default=DEFAULT_DESIRED,
        show_default=True,
        type=click.Path(file_okay=False),
        help="Folder of desired manifests.",
    )(f)


# The service's secrets.sops_age_key_file, as the offline commands (validate, plan) read it.
SOPS_KEY_ENV = "RECONCILER_SECRETS_SOPS_AGE_KEY_FILE"
