"""`reconciler get cronjobs` and `describe cronjob NAME`: kubectl's columns and layout.

Part of the read side's presentation (`reconciler.views`): `listings.py` turns
`cronjob_cells` into its rows, `describe.py` calls `describe_cronjob`. ACTIVE,
LAST SCHEDULE and the Active Jobs are the status the CronJob controller
(`reconciler.control.cronjobs`) writes; Next Schedule Time (ours) is computed by
the same schedule code the controller uses (`reconciler.api.cron`).
"""

from __future__ import annotations

from datetime import datetime

from reconciler.api import cron
from reconciler.api.types import JSON, Key
from reconciler.planning.cronjob import parse_time
from reconciler.store.reader import ReadStore
from reconciler.store.records import ObjectRecord
from reconciler.views import output
from reconciler.views.describe_statefulset import pod_template_section
from reconciler.views.sections import Describer, events_section, meta_section, stale_line, when

HEADERS = ("NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE")
WIDE = ("CONTAINERS", "IMAGES", "SELECTOR")


def _pod_containers(spec: JSON) -> list[JSON]:
    template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    return list((template.get("spec") or {}).get("containers") or [])


def cronjob_cells(o: ObjectRecord, now: datetime) -> tuple[list[str], list[str]]:
    """(the columns after NAME, the wide ones) of one CronJob."""
    spec, st = o.body.get("spec") or {}, o.status or {}
    last = parse_time(st.get("lastScheduleTime"))
    containers = _pod_containers(spec)
    return ([str(spec.get("schedule", "")), spec.get("timeZone") or output.NONE,
             str(bool(spec.get("suspend"))), str(len(st.get("active") or [])),
             output.age(last, now) if last is not None else output.NONE,
             output.age(o.created_at, now)],
            [",".join(c.get("name", "") for c in containers),
             ",".join(c.get("image", "") for c in containers), output.NONE])


def next_start(spec: JSON, now: datetime) -> datetime | None:
    """When the CronJob starts next (None: suspended, or a schedule that does not parse)."""
    if spec.get("suspend"):
        return None
    try:
        tz = cron.zone(str(spec["timeZone"]) if spec.get("timeZone") else None)
        return cron.parse(str(spec.get("schedule", ""))).next_after(now, tz)
    except cron.CronError:
        return None


def describe_cronjob(store: ReadStore, key: Key, now: datetime) -> str | None:
    """The text of `kubectl describe cronjob`, or None when the CronJob is not recorded."""
    o = store.get_object(key)
    if o is None:
        return None
    spec, meta, st = o.body.get("spec") or {}, o.body.get("metadata") or {}, o.status or {}
    job = (spec.get("jobTemplate") or {}).get("spec") or {}
    d = Describer()
    d.pair(0, "Name", key.name)
    d.pair(0, "Namespace", key.namespace)
    meta_section(d, meta)
    d.pair(0, "Schedule", spec.get("schedule", ""))
    d.pair(0, "Time Zone", spec.get("timeZone") or "<unset> (UTC)")
    d.pair(0, "Concurrency Policy", spec.get("concurrencyPolicy", "Allow"))
    d.pair(0, "Suspend", str(bool(spec.get("suspend"))))
    d.pair(0, "Successful Job History Limit", spec.get("successfulJobsHistoryLimit", 3))
    d.pair(0, "Failed Job History Limit", spec.get("failedJobsHistoryLimit", 1))
    d.pair(0, "Starting Deadline Seconds",
           f"{spec['startingDeadlineSeconds']}s" if spec.get("startingDeadlineSeconds")
           is not None else "<unset>")
    d.pair(0, "Selector", "<unset>")
    d.pair(0, "Parallelism", job.get("parallelism", "<unset>"))
    d.pair(0, "Completions", job.get("completions", "<unset>"))
    stale_line(d, o.stale, o.source_file)
    pod_template_section(d, job.get("template") or {})
    d.pair(0, "Last Schedule Time", when(parse_time(st.get("lastScheduleTime"))))
    if st.get("lastSuccessfulTime"):
        d.pair(0, "Last Successful Time", when(parse_time(st.get("lastSuccessfulTime"))))
    d.pair(0, "Next Schedule Time", when(next_start(spec, now)))
    d.pair(0, "Active Jobs", ", ".join(str(r.get("name")) for r in st.get("active") or [])
           or output.NONE)
    events_section(d, store.list_events(key.namespace, key.kind, key.name), now)
    return d.render()
