"""`reconciler get jobs` and `describe job NAME`: kubectl's Job columns and layout, from the store.

Part of the read side's presentation (`reconciler.views`): `listings.py` turns
`job_cells` into its rows, `describe.py` calls `describe_job`. Counts and times
are the status the Job controller (`reconciler.control.jobs`) writes; Pods
Statuses counts the Job's own pods (by owner uid), as kubectl's describeJob does.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.api.types import Key
from reconciler.planning.job_status import parse_time
from reconciler.store.reader import ReadStore
from reconciler.store.records import ObjectRecord
from reconciler.views import output
from reconciler.views.describe_statefulset import pod_template_section
from reconciler.views.sections import Describer, events_section, when

HEADERS = ("NAME", "COMPLETIONS", "DURATION", "AGE")
WIDE = ("CONTAINERS", "IMAGES", "SELECTOR")


def completions(o: ObjectRecord) -> str:
    """kubectl's COMPLETIONS: succeeded/completions, or "n/1 of parallelism" for a work queue."""
    spec, st = o.body.get("spec") or {}, o.status or {}
    succeeded = int(st.get("succeeded") or 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = int(spec.get("parallelism") or 1)
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def duration(o: ObjectRecord, now: datetime) -> str:
    """kubectl's DURATION: start to completion, or to now while it runs; empty unstarted."""
    st = o.status or {}
    start = parse_time(st.get("startTime"))
    if start is None:
        return ""
    end = parse_time(st.get("completionTime")) or now
    return output.human_duration(end - start)


def job_cells(o: ObjectRecord, now: datetime) -> tuple[list[str], list[str]]:
    """(the columns after NAME, the wide ones) of one Job."""
    template = (o.body.get("spec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    return ([completions(o), duration(o, now), output.age(o.created_at, now)],
            [",".join(c.get("name", "") for c in containers),
             ",".join(c.get("image", "") for c in containers),
             f"batch.kubernetes.io/controller-uid={o.uid}"])


def describe_job(store: ReadStore, key: Key, now: datetime) -> str | None:
    """The text of `kubectl describe job`, or None when the Job is not recorded."""
    o = store.get_object(key)
    if o is None:
        return None
    spec, meta, st = o.body.get("spec") or {}, o.body.get("metadata") or {}, o.status or {}
    pods = [p for p in store.list_pods(key.namespace)
            if p.owner is not None and p.owner.uid == o.uid]
    d = Describer()
    d.pair(0, "Name", key.name)
    d.pair(0, "Namespace", key.namespace)
    d.pair(0, "Selector", f"batch.kubernetes.io/controller-uid={o.uid}")
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
    d.multi(0, "Annotations",
            [f"{k}: {v}" for k, v in sorted((meta.get("annotations") or {}).items())])
    d.pair(0, "Parallelism", spec.get("parallelism", 1))
    d.pair(0, "Completions", spec.get("completions", output.NONE))
    d.pair(0, "Completion Mode", spec.get("completionMode", "NonIndexed"))
    d.pair(0, "Suspend", str(bool(spec.get("suspend"))).lower())
    d.pair(0, "Backoff Limit", spec.get("backoffLimit", 6))
    if spec.get("ttlSecondsAfterFinished") is not None:
        d.pair(0, "TTL Seconds After Finished", spec["ttlSecondsAfterFinished"])
    if spec.get("activeDeadlineSeconds") is not None:
        d.pair(0, "Active Deadline Seconds", f"{spec['activeDeadlineSeconds']}s")
    d.pair(0, "Start Time", when(parse_time(st.get("startTime"))))
    if st.get("completionTime"):
        d.pair(0, "Completed At", when(parse_time(st.get("completionTime"))))
        d.pair(0, "Duration", duration(o, now))
    phases = [p.phase for p in pods if p.deletion_timestamp is None]
    active = sum(1 for x in phases if x in ("Pending", "Running", "Unknown"))
    d.pair(0, "Pods Statuses", f"{active} Active ({st.get('ready', 0)} Ready) / "
           f"{st.get('succeeded', 0)} Succeeded / {st.get('failed', 0)} Failed")
    if "completedIndexes" in st:
        d.pair(0, "Completed Indexes", st["completedIndexes"] or output.NONE)
    for c in st.get("conditions") or []:
        if c.get("status") == "True":
            d.pair(0, "Condition", f"{c.get('type')} ({c.get('reason')}): {c.get('message')}")
    if o.stale:
        d.pair(0, "Stale", f"yes: {o.source_file} has errors; this is the last valid version")
    pod_template_section(d, spec.get("template") or {})
    events_section(d, store.list_events(key.namespace, key.kind, key.name), now)
    return d.render()
