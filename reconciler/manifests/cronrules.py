"""Semantic rules for a CronJob: its schedule, time zone, name length and Job template.

Called by reconciler.manifests.semantic on defaulted bodies (types already
checked by the schema), as Kubernetes' ValidateCronJob: a schedule that does not
parse (reconciler.api.cron) or never fires, an unknown time zone, a name longer
than 52 characters (its Jobs append 11), and a pod template whose restartPolicy
is not OnFailure or Never are errors, with the field they concern.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.api import cron
from reconciler.api.types import JSON
from reconciler.manifests.fields import Finding
from reconciler.manifests.podrules import check_pod_spec

MAX_NAME = 52  # validation.CronJobNameMaxLength: 63 less the "-" and 10 digits of a Job name
_TEMPLATE = ("spec", "jobTemplate", "spec", "template")


def check_cronjob(body: JSON) -> list[Finding]:
    """Every CronJob rule but those of labels and annotations (semantic.py's)."""
    out: list[Finding] = []
    name = str((body.get("metadata") or {}).get("name", ""))
    if len(name) > MAX_NAME:
        out.append(Finding("error", ("metadata", "name"),
                           f"must be no more than {MAX_NAME} characters (its Jobs are named "
                           "<name>-<minutes since the epoch>)"))
    spec = body["spec"]
    tz = None
    if spec.get("timeZone") is not None:
        try:
            tz = cron.zone(spec["timeZone"])
        except cron.CronError as e:
            out.append(Finding("error", ("spec", "timeZone"), str(e)))
    try:
        sched = cron.parse(spec["schedule"])
    except cron.CronError as e:
        out.append(Finding("error", ("spec", "schedule"), f"invalid schedule: {e}"))
    else:
        if sched.next_after(datetime(2000, 1, 1, tzinfo=UTC), tz or UTC) is None:
            out.append(Finding("error", ("spec", "schedule"),
                               "invalid schedule: it never fires (no such day)"))
    template = spec["jobTemplate"]["spec"]["template"]
    pod = template.get("spec") or {}
    if pod.get("restartPolicy") not in ("OnFailure", "Never"):
        out.append(Finding("error", (*_TEMPLATE, "spec", "restartPolicy"),
                           "must be OnFailure or Never in a Job template (got "
                           f"{pod.get('restartPolicy')})"))
    out += check_pod_spec(pod, (*_TEMPLATE, "spec"))
    return out
