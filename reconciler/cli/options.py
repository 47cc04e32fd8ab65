"""Options every command shares: where the state store and the desired folder are.

`--state` (env RECONCILER_STATE, default ./state.db) and `--desired` (env
RECONCILER_DESIRED, default ./desired), as the foundation issue asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

DEFAULT_STATE = "state.db"
DEFAULT_DESIRED = "desired"


def state_option(f: F) -> F:
    """`--state PATH_OR_URL`: a SQLite path or any SQLAlchemy URL."""
    return click.option(
        "--state",
        envvar="RECONCILER_STATE",
        default=DEFAULT_STATE,
        show_default=True,
        help="State store: a SQLite file path or a SQLAlchemy URL.",
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
