"""A Job as its planner sees it: the parsed spec, its pods' labels and spec, a pod's facts.

The model half of the pure Job planner: `job.plan_job` decides with these; the
Job controller (`reconciler.control.jobs`) parses bodies with `job_from_body`
and makes pods with `JobSpec.pod_spec`. Mirrors Kubernetes' batch/v1 defaults
(SetDefaults_Job: completions and parallelism 1 when both are unset,
backoffLimit 6, completionMode NonIndexed) and the labels and annotation its Job
controller puts on pods (controller-uid, job-name, the completion index).
Defaults are applied here too, not only by the manifest loader, because a
CronJob's Jobs are written by its controller from a jobTemplate.
Differences: the selector is always the controller-uid label (no
manualSelector); a pod's run is told apart by `TEMPLATE_HASH_LABEL`, so a changed
template runs a new Job under the same record (see docs/jobs.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.api.defaults import pod_spec as default_pod_spec
from reconciler.api.records import OwnerRef, PodRecord
from reconciler.api.types import JSON
from reconciler.planning.deployment import pod_template_hash

KIND = "Job"
API_VERSION = "batch/v1"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_NAME_LABEL = "job-name"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
INDEX_ENV = "JOB_COMPLETION_INDEX"
TEMPLATE_HASH_LABEL = "reconciler.dev/job-template-hash"
DEFAULT_BACKOFF_LIMIT = 6


@dataclass(frozen=True)
class JobSpec:
    """The parts of a Job the planner needs, defaulted."""

    namespace: str
    name: str
    uid: str
    template: JSON
    completions: int | None = 1  # None: a work queue (done when one pod succeeded)
    parallelism: int = 1
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT
    active_deadline: int | None = None  # seconds
    ttl_after_finished: int | None = None  # seconds
    suspend: bool = False
    indexed: bool = False
    restart_policy: str = "Never"
    hash: str = ""
    generation: int = 1

    @property
    def owner_ref(self) -> OwnerRef:
        return OwnerRef(KIND, self.name, self.uid, API_VERSION, controller=True)

    def pod_labels(self, index: int | None) -> dict[str, str]:
        labels = dict((self.template.get("metadata") or {}).get("labels") or {})
        labels.update({CONTROLLER_UID_LABEL: self.uid, LEGACY_CONTROLLER_UID_LABEL: self.uid,
                       JOB_NAME_LABEL: self.name, LEGACY_JOB_NAME_LABEL: self.name,
                       TEMPLATE_HASH_LABEL: self.hash})
        if index is not None:
            labels[INDEX_LABEL] = str(index)
        return labels

    def pod_annotations(self, index: int | None) -> dict[str, str]:
        annotations = dict((self.template.get("metadata") or {}).get("annotations") or {})
        if index is not None:
            annotations[INDEX_ANNOTATION] = str(index)
        return annotations

    def pod_spec(self, index: int | None) -> JSON:
        """The template's pod spec; in Indexed mode every container gets JOB_COMPLETION_INDEX
        (Kubernetes sets it from the annotation by a fieldRef; here the value itself)."""
        spec: JSON = copy.deepcopy(self.template.get("spec") or {})
        if index is None:
            return spec
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            env: list[Any] = [e for e in c.get("env") or [] if e.get("name") != INDEX_ENV]
            env.append({"name": INDEX_ENV, "value": str(index)})
            c["env"] = env
        return spec

    def pod_base_name(self, index: int | None) -> str:
        # Indexed pods are named <job>-<index>-xxxxx, as Kubernetes' generateName does.
        return self.name if index is None else f"{self.name}-{index}"


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def job_from_body(body: JSON, uid: str, generation: int | None = None) -> JobSpec:
    """A JobSpec from a Job body (defaulted or not); `generation` from the store wins."""
    meta: dict[str, Any] = body.get("metadata") or {}
    spec: dict[str, Any] = body.get("spec") or {}
    template: JSON = copy.deepcopy(spec.get("template") or {})
    pod: JSON = template.setdefault("spec", {})
    pod.setdefault("restartPolicy", "Never")  # Always is refused by validation
    default_pod_spec(pod)
    completions, parallelism = _int(spec.get("completions")), _int(spec.get("parallelism"))
    if completions is None and parallelism is None:
        completions = 1
    backoff = _int(spec.get("backoffLimit"))
    return JobSpec(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name", "")),
        uid=uid,
        template=template,
        completions=completions,
        parallelism=1 if parallelism is None else parallelism,
        backoff_limit=DEFAULT_BACKOFF_LIMIT if backoff is None else backoff,
        active_deadline=_int(spec.get("activeDeadlineSeconds")),
        ttl_after_finished=_int(spec.get("ttlSecondsAfterFinished")),
        suspend=bool(spec.get("suspend")),
        indexed=spec.get("completionMode") == "Indexed",
        restart_policy=str(pod.get("restartPolicy")),
        hash=pod_template_hash(template),
        generation=generation or int(meta.get("generation") or 1),
    )


def pod_index(pod: PodRecord) -> int | None:
    """The completion index a pod carries, or None (NonIndexed, or not a number)."""
    value = pod.annotations.get(INDEX_ANNOTATION, pod.labels.get(INDEX_LABEL))
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def finished_at(pod: PodRecord) -> datetime:
    """When a terminated pod ended: its last container's finish (else its start, creation)."""
    ends = [c.finished_at for c in pod.containers if c.finished_at is not None]
    return max(ends) if ends else (pod.start_time or pod.created_at)

