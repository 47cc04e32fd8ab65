"""`reconciler create job NAME --from=cronjob/CRONJOB`: a manual run of a CronJob, as kubectl's.

The CLI's imperative write of a Job: the CronJob's jobTemplate, annotated
`cronjob.kubernetes.io/instantiate: manual` and owned by the CronJob, written
into the store as the CronJob controller writes its scheduled Jobs
(`Store.write_owned`, source `controller:CronJob/<namespace>/<name>`); the running
service's Job controller runs it (nudged through `reconciler sync`'s signal, and
the store's change feed), or the service does when it next starts.

Why a store object and not a file in the desired folder: a manual run is a
one-off act on a CronJob, not declared state. As a manifest it would stay
declared after it ran, its removal from the folder would delete its record, a
git source would need a commit for it (the service only reads the repository),
and it would belong to the folder rather than to its CronJob; as the CronJob's
own Job it is kept and removed by the CronJob's history limits, and goes when
the CronJob goes, as in Kubernetes.
"""

from __future__ import annotations

import contextlib
import secrets
import string
from datetime import UTC, datetime

import click

from reconciler.cli.options import state_option
from reconciler.service.requests import SyncError, request_sync

_ALPHABET = string.ascii_lowercase + string.digits


@click.group()
def create() -> None:
    """Create an object imperatively (a Job from a CronJob)."""


@create.command("job")
@click.argument("name", required=False)
@click.option("--from", "from_", required=True, metavar="cronjob/NAME",
              help="The CronJob whose jobTemplate the Job is made from.")
@click.option("-n", "--namespace", default="default", show_default=True)
@state_option
def job(name: str | None, from_: str, namespace: str, state: str) -> None:
    """Run a CronJob now: a Job from its template (NAME defaults to <cronjob>-manual-xxxxx)."""
    from reconciler.api.names import validate_dns1123_subdomain
    from reconciler.api.types import KIND_ALIASES, Key
    from reconciler.planning.cronjob import JOB_KIND, cronjob_from_body, job_body, owned_source
    from reconciler.store import Store, StoreMissing

    resource, _, cronjob = from_.partition("/")
    if KIND_ALIASES.get(resource.lower().split(".", 1)[0]) != "CronJob" or not cronjob:
        raise click.ClickException(f"--from must be cronjob/NAME (got {from_!r})")
    name = name or f"{cronjob}-manual-{''.join(secrets.choice(_ALPHABET) for _ in range(5))}"
    problems = validate_dns1123_subdomain(name)
    if problems:
        raise click.ClickException(f'invalid Job name "{name}": {"; ".join(problems)}')
    try:
        store = Store.open(state, create=False)
    except StoreMissing as e:
        raise click.ClickException(str(e)) from None
    try:
        obj = store.get_object(Key("CronJob", namespace, cronjob))
        if obj is None:
            click.echo(f'Error from server (NotFound): cronjobs.batch "{cronjob}" not found',
                       err=True)
            raise SystemExit(1)
        key = Key(JOB_KIND, namespace, name)
        if store.get_object(key) is not None:
            click.echo(f'Error from server (AlreadyExists): jobs.batch "{name}" already exists',
                       err=True)
            raise SystemExit(1)
        cj = cronjob_from_body(obj.body, obj.uid, obj.created_at)
        now = datetime.now(UTC)
        refused = store.write_owned(owned_source(namespace, cronjob),
                                    [(key, job_body(cj, name, None, manual=True))], [], now)
        if refused:
            raise click.ClickException(f'jobs.batch "{name}" is declared in a manifest')
    finally:
        store.close()
    with contextlib.suppress(SyncError):  # no service running: it runs when one starts
        request_sync(state)
    click.echo(f"job.batch/{name} created")
