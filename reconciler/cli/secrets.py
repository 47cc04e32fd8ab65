"""`reconciler secrets rotate-key`: re-seal every stored Secret with a fresh key.

The rotation procedure of docs/config.md, as one command run while the service
is stopped (a running service holds the old key in memory and would keep
sealing with it): a new key is put first in the key file
(reconciler.store.secrets.add_key), every Secret row is opened with the key it
was sealed with and sealed again with the new one in one transaction
(`Store.reseal_secrets`), then the old keys are dropped from the file. Killed
half-way, the file still holds both keys and the command can simply run again.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import state_option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def secrets() -> None:
    """Secrets at rest: key rotation."""


@secrets.command("rotate-key")
@state_option
@click.option("--key-file", default="", help="The key file (default: <state>.key, or "
              "$RECONCILER_SECRETS_KEY_FILE).")
@click.option("--keep-old", is_flag=True, help="Keep the old keys in the file (for a store "
              "copy still sealed with them).")
def rotate_key(state: str, key_file: str, keep_old: bool) -> None:
    """Seal every stored Secret with a new key, then drop the old keys. Stop the service first."""
    from reconciler.store import Store
    from reconciler.store import secrets as sec
    from reconciler.store.requests import CONTROLLER_LEASE

    path = sec.key_file_for(state, key_file)
    if not Path(path).exists():
        raise click.ClickException(f"no key file {path}: nothing was ever sealed with it")
    store = Store.open(state, create=False)
    try:
        if not store.lease_expired(CONTROLLER_LEASE):
            raise click.ClickException("a service holds this store's lease: stop it first "
                                       "(it keeps the old key in memory)")
        store.sealer = sec.add_key(path)
        count = store.reseal_secrets()
        if not keep_old:
            sec.drop_old_keys(path)
    finally:
        store.close()
    click.echo(f"{count} Secret(s) sealed with key {store.sealer.current}; key file {path}")
