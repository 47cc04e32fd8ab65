"""A CronJob as its planner sees it: the parsed spec, its Jobs' states, the Job it makes.

The model half of the pure CronJob planner (`reconciler.planning.cronjob_plan`
decides with these); the CronJob controller (`reconciler.control.cronjobs`) and
`reconciler create job --from=cronjob/NAME` build Jobs with `job_body`. Mirrors
Kubernetes' batch/v1 CronJob: defaults (concurrencyPolicy Allow, 3 successful
and 1 failed Jobs kept), Job names `<cronjob>-<scheduled time in minutes since
the epoch>` (getJobName: one name per start, so a start is never made twice),
the jobTemplate's labels and annotations on the Job, the scheduled-timestamp
annotation, and an ownerReference marked controller.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from reconciler.api.types import JSON
from reconciler.planning.diff import OWNED_SOURCE_PREFIX

KIND = "CronJob"
API_VERSION = "batch/v1"
JOB_KIND = "Job"
ALLOW, FORBID, REPLACE = "Allow", "Forbid", "Replace"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
INSTANTIATE_ANNOTATION = "cronjob.kubernetes.io/instantiate"  # "manual": kubectl create job
COMPLETE, FAILED = "Complete", "Failed"


def owned_source(namespace: str, name: str) -> str:
    """The source_file recorded for the Jobs of CronJob namespace/name (scheduled or manual)."""
    return f"{OWNED_SOURCE_PREFIX}{KIND}/{namespace}/{name}"


@dataclass(frozen=True)
class CronJobSpec:
    """The parts of a defaulted CronJob body the planner needs."""

    namespace: str
    name: str
    uid: str
    schedule: str
    time_zone: str | None
    concurrency_policy: str
    suspend: bool
    starting_deadline_seconds: int | None
    successful_history: int
    failed_history: int
    job_template: JSON
    created_at: datetime


def _int(value: Any, default: int | None) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def cronjob_from_body(body: JSON, uid: str, created_at: datetime) -> CronJobSpec:
    """The planner's view of a CronJob body (defaults applied where the body has none)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    return CronJobSpec(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name", "")),
        uid=uid,
        schedule=str(spec.get("schedule", "")),
        time_zone=spec.get("timeZone") or None,
        concurrency_policy=str(spec.get("concurrencyPolicy") or ALLOW),
        suspend=bool(spec.get("suspend", False)),
        starting_deadline_seconds=_int(spec.get("startingDeadlineSeconds"), None),
        successful_history=_int(spec.get("successfulJobsHistoryLimit"), 3) or 0,
        failed_history=_int(spec.get("failedJobsHistoryLimit"), 1) or 0,
        job_template=spec.get("jobTemplate") or {},
        created_at=created_at,
    )


@dataclass(frozen=True)
class JobState:
    """One Job of a CronJob: whether it finished (Complete or Failed) and its times."""

    name: str
    uid: str
    created_at: datetime
    finished: str | None = None  # COMPLETE, FAILED or None (still active)
    start_time: datetime | None = None
    completion_time: datetime | None = None
    manual: bool = False


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def finished_condition(status: JSON | None) -> str | None:
    """Complete or Failed when the Job's status has that condition True (IsJobFinished)."""
    for c in (status or {}).get("conditions") or []:
        if c.get("type") in (COMPLETE, FAILED) and str(c.get("status")) == "True":
            return str(c["type"])
    return None


def job_state(name: str, uid: str, body: JSON, status: JSON | None,
              created_at: datetime) -> JobState:
    """A Job record as the planner sees it."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    st = status or {}
    return JobState(name, uid, created_at, finished_condition(status),
                    _time(st.get("startTime")), _time(st.get("completionTime")),
                    annotations.get(INSTANTIATE_ANNOTATION) == "manual")


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with a Z, as Kubernetes writes metav1.Time."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    """A status time written by `format_time` (or any RFC 3339 text), else None."""
    return _time(value)


def job_name(cronjob: str, scheduled: datetime) -> str:
    """getJobName: the CronJob's name and the scheduled time in minutes since the epoch."""
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


def controller_ref(cj: CronJobSpec) -> JSON:
    return {"apiVersion": API_VERSION, "kind": KIND, "name": cj.name, "uid": cj.uid,
            "controller": True, "blockOwnerDeletion": True}


def job_body(cj: CronJobSpec, name: str, scheduled: datetime | None, tz: tzinfo = UTC,
             manual: bool = False) -> JSON:
    """The Job the CronJob makes (getJobFromTemplate2): the template's metadata and spec,
    the scheduled time (a scheduled run) or the manual mark (`create job --from`)."""
    template = cj.job_template
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    if scheduled is not None:
        annotations[SCHEDULED_ANNOTATION] = scheduled.astimezone(tz).isoformat()
    if manual:
        annotations[INSTANTIATE_ANNOTATION] = "manual"
    meta: JSON = {"name": name, "namespace": cj.namespace,
                  "labels": dict(tmeta.get("labels") or {}),
                  "ownerReferences": [controller_ref(cj)]}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": JOB_KIND, "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def job_ref(namespace: str, job: JobState) -> JSON:
    """An entry of status.active (an ObjectReference)."""
    return {"apiVersion": API_VERSION, "kind": JOB_KIND, "namespace": namespace,
            "name": job.name, "uid": job.uid}
