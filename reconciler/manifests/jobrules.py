"""Semantic rules for a Job: its pod template, restart policy and Indexed completions.

Called by reconciler.manifests.semantic on defaulted bodies (types already
checked by the schema), as Kubernetes' ValidateJob: a template restartPolicy
other than OnFailure or Never, Indexed mode without completions, and a template
whose own pod rules fail are errors, with the field they concern. A Job has no
selector here: its pods are found by the controller-uid label (docs/jobs.md).
"""

from __future__ import annotations

from reconciler.api.types import JSON
from reconciler.manifests.fields import Finding, Path_
from reconciler.manifests.podrules import check_pod_spec

_TEMPLATE: Path_ = ("spec", "template")


def check_job_template(template: JSON, path: Path_) -> list[Finding]:
    """A Job's pod template at `path`: restartPolicy OnFailure or Never, and the pod rules."""
    pod = template.get("spec") or {}
    out: list[Finding] = []
    if pod.get("restartPolicy") not in ("OnFailure", "Never"):
        out.append(Finding("error", (*path, "spec", "restartPolicy"),
                           "must be OnFailure or Never in a Job template (got "
                           f"{pod.get('restartPolicy')})"))
    out += check_pod_spec(pod, (*path, "spec"))
    return out


def check_job(body: JSON) -> list[Finding]:
    """Every Job rule but those of labels and annotations (semantic.py's)."""
    spec = body["spec"]
    out = check_job_template(spec["template"], _TEMPLATE)
    if spec.get("completionMode") == "Indexed" and spec.get("completions") is None:
        out.append(Finding("error", ("spec", "completions"),
                           "required when completionMode is Indexed"))
    return out
