"""Defaulting of desired objects, as the Kubernetes API server does it, in one place.

Applied by the manifest loader (reconciler.manifests.document) to every valid
document, before semantic checks and hashing, so the planner, controllers and
store only ever see defaulted bodies. References: kubernetes.io API reference
for Pod, ReplicationController, ReplicaSet, Deployment, StatefulSet, Service,
Endpoints (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go).
Pure: no I/O. `apply_defaults` returns a new body; `default_in_place` fills the one given.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

from reconciler.api.types import CLUSTER_SCOPED_KINDS, JSON

DEFAULT_NAMESPACE = "default"
DEFAULT_GRACE_SECONDS = 30
# Kubernetes' default --service-node-port-range: the validator's bound, the allocator's
# and the configuration's default (one definition for all three).
NODE_PORT_RANGE = (30000, 32767)
PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                  "failureThreshold": 3}


def image_pull_policy(image: str) -> str:
    """Always for an image with no tag or the tag latest, else IfNotPresent (as Kubernetes)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(probe: JSON) -> None:
    for k, v in PROBE_DEFAULTS.items():
        probe.setdefault(k, v)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _container(c: JSON) -> None:
    if isinstance(c.get("image"), str):
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for name in ("livenessProbe", "readinessProbe"):
        if isinstance(c.get(name), dict):
            _probe(c[name])


def pod_spec(spec: JSON) -> None:
    """Fill a pod spec's defaults in place (also used for templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
    spec.setdefault("enableServiceLinks", True)
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        _container(c)
    for volume in spec.get("volumes") or []:
        # Kubernetes makes a volume without a source an emptyDir.
        if not {"emptyDir", "hostPath", "persistentVolumeClaim", "configMap", "secret",
                "projected"} & volume.keys():
            volume["emptyDir"] = {}


def _template_labels(spec: JSON) -> dict[str, str]:
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    return dict(labels)


def _workload(body: JSON, *, set_selector: bool, replicas: bool = True) -> None:
    spec = body.setdefault("spec", {})
    if replicas:  # a DaemonSet has none: one pod per node
        spec.setdefault("replicas", 1)
    labels = _template_labels(spec)
    if labels:
        if "selector" not in spec or not spec["selector"]:
            spec["selector"] = dict(labels) if set_selector else {"matchLabels": dict(labels)}
        meta = body.setdefault("metadata", {})
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec(template["spec"])


def _daemonset(spec: JSON) -> None:
    """SetDefaults_DaemonSet: RollingUpdate, 1 unavailable and no surge; 10 revisions kept."""
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)


def _job(spec: JSON) -> None:
    """SetDefaults_Job: completions and parallelism 1 when both are unset (parallelism alone:
    a work queue), backoffLimit 6, NonIndexed, not suspended; the template's pod spec."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec(template.setdefault("spec", {}))


def _cronjob(spec: JSON) -> None:
    """SetDefaults_CronJob: Allow, not suspended, 3 successful and 1 failed Jobs kept; the
    Job template's pod spec as any template's (restartPolicy Always is then refused)."""
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if isinstance(template, dict):
        pod_spec(template.setdefault("spec", {}))


def _service(spec: JSON) -> None:
    spec.setdefault("type", "ClusterIP")
    if spec["type"] == "ExternalName":
        return
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _deployment(spec: JSON) -> None:
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _statefulset(spec: JSON) -> None:
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")


def apply_defaults(body: JSON) -> JSON:
    """A defaulted copy of a valid object body."""
    return default_in_place(copy.deepcopy(body))


def default_in_place(out: JSON) -> JSON:
    """Default a valid object body in place and return it (for bodies nobody else holds)."""
    kind = out.get("kind")
    meta = out.setdefault("metadata", {})
    if kind not in CLUSTER_SCOPED_KINDS:
        meta.setdefault("namespace", DEFAULT_NAMESPACE)
    if kind == "Pod":
        pod_spec(out.setdefault("spec", {}))
    elif kind == "ReplicationController":
        _workload(out, set_selector=True)
    elif kind in ("ReplicaSet", "Deployment", "StatefulSet"):
        _workload(out, set_selector=False)
        if kind == "Deployment":
            _deployment(out["spec"])
        elif kind == "StatefulSet":
            _statefulset(out["spec"])
    elif kind == "DaemonSet":
        _workload(out, set_selector=False, replicas=False)
        _daemonset(out["spec"])
    elif kind == "Job":
        _job(out.setdefault("spec", {}))
    elif kind == "CronJob":
        _cronjob(out.setdefault("spec", {}))
    elif kind == "Service":
        _service(out.setdefault("spec", {}))
    elif kind == "Endpoints":
        for subset in out.get("subsets") or []:
            for port in subset.get("ports") or []:
                port.setdefault("protocol", "TCP")
    elif kind == "Node":
        out.setdefault("spec", {}).setdefault("unschedulable", False)
    elif kind == "Secret":
        _secret(out)
    return out


def _secret(body: JSON) -> None:
    """Kubernetes' write of a Secret: type Opaque by default, stringData merged into data."""
    body.setdefault("type", "Opaque")
    strings = body.pop("stringData", None) or {}
    if strings:
        data = body.setdefault("data", {})
        for key, value in strings.items():  # stringData wins over data, as in Kubernetes
            data[key] = base64.b64encode(str(value).encode()).decode("ascii")


def content_hash(body: Any) -> str:
    """sha256 of the canonical JSON (sorted keys, compact) of a body."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
