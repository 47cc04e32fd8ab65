"""Semantic rules for one defaulted object: names, labels, selectors, and the per-kind rules.

Runs in reconciler.manifests.document after the schema check and defaulting, so
every field here already has the right type. Pod rules live in
reconciler.manifests.podrules, Service, Endpoints and Node rules in
reconciler.manifests.servicerules; rules across objects in
reconciler.manifests.crossfile.
"""

from __future__ import annotations

from typing import Any

from reconciler.api.selectors import SelectorError, from_label_selector, from_map
from reconciler.api.types import JSON
from reconciler.manifests import configkinds, names
from reconciler.manifests.cronrules import check_cronjob
from reconciler.manifests.fields import Finding, Path_
from reconciler.manifests.jobrules import check_job
from reconciler.manifests.podrules import check_pod_spec
from reconciler.manifests.servicerules import check_endpoints, check_node, check_service

# Kinds whose name must be a DNS-1123 label rather than a subdomain (Kubernetes'
# ValidateNamespaceName, ValidateServiceName; a Service name must also start with a letter).
_LABEL_NAMED = frozenset({"Namespace", "Service"})
# Kubernetes' TotalAnnotationSizeLimitB: keys and values of one object, together.
ANNOTATIONS_MAX_BYTES = 256 * 1024
_WORKLOADS = frozenset({"ReplicationController", "ReplicaSet", "Deployment", "StatefulSet",
                        "DaemonSet"})


def check_labels(labels: Any, path: Path_) -> list[Finding]:
    """Label keys and values, as Kubernetes' ValidateLabels."""
    out: list[Finding] = []
    for key, value in (labels or {}).items():
        problem = names.label_key(key) or names.label_value(value)
        if problem:
            out.append(Finding("error", (*path, key), f"invalid label: {problem}"))
    return out


def check_annotations(annotations: Any, path: Path_) -> list[Finding]:
    """Annotation keys (values are free text) and their total size, as ValidateAnnotations."""
    out: list[Finding] = []
    for key in annotations or {}:
        problem = names.label_key(key)
        if problem:
            out.append(Finding("error", (*path, key), f"invalid annotation: {problem}"))
    total = sum(len(str(k).encode()) + len(str(v).encode())
                for k, v in (annotations or {}).items())
    if total > ANNOTATIONS_MAX_BYTES:
        out.append(Finding("error", path, f"Too long: must have at most {ANNOTATIONS_MAX_BYTES} "
                           f"bytes (keys and values total {total})", at_key=True))
    return out


def check_metadata(kind: str, meta: JSON, path: Path_ = ("metadata",)) -> list[Finding]:
    """Name, namespace, labels and annotations of an object."""
    out: list[Finding] = []
    name = meta.get("name")
    if isinstance(name, str):
        check = names.dns1123_label if kind in _LABEL_NAMED else names.dns1123_subdomain
        problem = check(name)
        if not problem and kind == "Service" and not name[:1].isalpha():
            problem = f"{name!r} must start with a letter (a Service name is a DNS-1035 label)"
        if problem:
            out.append(Finding("error", (*path, "name"), problem))
    namespace = meta.get("namespace")
    if isinstance(namespace, str):
        problem = names.dns1123_label(namespace)
        if problem:
            out.append(Finding("error", (*path, "namespace"), problem))
    out += check_labels(meta.get("labels"), (*path, "labels"))
    out += check_annotations(meta.get("annotations"), (*path, "annotations"))
    return out


def _check_selector(kind: str, spec: JSON) -> list[Finding]:
    selector = spec.get("selector") or {}
    path: Path_ = ("spec", "selector")
    if kind == "ReplicationController":
        if not selector:
            return [Finding("error", path, "selector is empty: give the pod template labels "
                            "(the selector defaults to them)")]
        out = check_labels(selector, path)
    else:
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            return [Finding("error", path, "selector is empty: give matchLabels or "
                            "matchExpressions matching the pod template labels")]
        out = check_labels(selector.get("matchLabels"), (*path, "matchLabels"))
        for i, expr in enumerate(selector.get("matchExpressions") or []):
            where = (*path, "matchExpressions", i)
            problem = names.label_key(expr["key"])
            if problem:
                out.append(Finding("error", (*where, "key"), f"invalid selector: {problem}"))
            for j, value in enumerate(expr.get("values") or []):
                problem = names.label_value(str(value))
                if problem:
                    out.append(Finding("error", (*where, "values", j),
                                       f"invalid selector: {problem}"))
            has_values = bool(expr.get("values"))
            if expr["operator"] in ("In", "NotIn") and not has_values:
                out.append(Finding("error", (*where, "values"),
                                   f"operator {expr['operator']} needs at least one value"))
            if expr["operator"] in ("Exists", "DoesNotExist") and has_values:
                out.append(Finding("error", (*where, "values"),
                                   f"operator {expr['operator']} takes no values"))
    if out:
        return out
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    try:
        # An RC's selector is a label map: a key named `matchLabels` is just a label key.
        built = from_map({str(k): str(v) for k, v in selector.items()}) \
            if kind == "ReplicationController" else from_label_selector(selector)
        selects = built.matches({str(k): str(v) for k, v in labels.items()})
    except SelectorError as e:  # a matchExpressions value that is no label value
        return [Finding("error", path, f"invalid selector: {e}")]
    if not selects:
        out.append(Finding("error", path, "selector does not match the pod template labels "
                           f"{labels or '{}'}: the controller would never see its own pods"))
    return out


def _check_workload(kind: str, body: JSON) -> list[Finding]:
    spec = body["spec"]
    out = _check_selector(kind, spec)
    template = spec["template"]
    tmeta = template.get("metadata") or {}
    out += check_labels(tmeta.get("labels"), ("spec", "template", "metadata", "labels"))
    out += check_annotations(tmeta.get("annotations"),
                             ("spec", "template", "metadata", "annotations"))
    pod = template["spec"]
    if pod.get("restartPolicy") != "Always":
        out.append(Finding("error", ("spec", "template", "spec", "restartPolicy"),
                           f"must be Always in a {kind} template (got {pod.get('restartPolicy')})"))
    if kind == "StatefulSet":
        claims, out_claims = _claim_templates(spec)
        out += out_claims
        # Each claim template becomes a volume of every pod (a claim per ordinal), so the
        # template's volumeMounts may name it, as in Kubernetes' web.yaml example.
        declared = {v.get("name") for v in pod.get("volumes") or []}
        pod = {**pod, "volumes": [*(pod.get("volumes") or []),
                                  *({"name": c, "persistentVolumeClaim": {"claimName": c}}
                                    for c in claims if c not in declared)]}
    out += check_pod_spec(pod, ("spec", "template", "spec"))
    return out


def _claim_templates(spec: JSON) -> tuple[list[str], list[Finding]]:
    """The claim template names, and what is wrong with them (names, duplicates)."""
    names_: list[str] = []
    out: list[Finding] = []
    for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
        where = ("spec", "volumeClaimTemplates", i, "metadata", "name")
        name = str((claim.get("metadata") or {}).get("name", ""))
        problem = names.dns1123_label(name)
        if problem:
            out.append(Finding("error", where, f"claim template name {problem}"))
        elif name in names_:
            out.append(Finding("error", where, f"duplicate claim template name {name!r}"))
        else:
            names_.append(name)
    return names_, out


def check_object(body: JSON) -> list[Finding]:
    """All single-object rules for a defaulted body of a known kind."""
    kind: str = body["kind"]
    out = check_metadata(kind, body.get("metadata") or {})
    if kind == "Pod":
        out += check_pod_spec(body["spec"], ("spec",))
    elif kind in _WORKLOADS:
        out += _check_workload(kind, body)
    elif kind == "Job":
        out += check_job(body)
        tmeta = body["spec"]["template"].get("metadata") or {}
        out += check_labels(tmeta.get("labels"), ("spec", "template", "metadata", "labels"))
        out += check_annotations(tmeta.get("annotations"),
                                 ("spec", "template", "metadata", "annotations"))
    elif kind == "CronJob":
        out += check_cronjob(body)
        for where in (("spec", "jobTemplate"), ("spec", "jobTemplate", "spec", "template")):
            meta = _at(body, where).get("metadata") or {}
            out += check_labels(meta.get("labels"), (*where, "metadata", "labels"))
            out += check_annotations(meta.get("annotations"), (*where, "metadata", "annotations"))
    elif kind == "Service":
        out += check_service(body["spec"])
    elif kind == "Endpoints":
        out += check_endpoints(body)
    elif kind == "Node":
        out += check_node(body["spec"], (body.get("metadata") or {}).get("annotations"))
    elif kind == "ConfigMap":
        out += configkinds.check_configmap(body)
    elif kind == "Secret":
        out += configkinds.check_secret(body)
    return out


def _at(body: JSON, path: tuple[str, ...]) -> JSON:
    for part in path:
        body = body[part]
    return body
