"""The table of what acts: per kind, every field path our schemas accept, acting or not.

Read by reconciler.manifests.effects (the warnings) and by the test that walks
the schemas (tests/unit/manifests/test_effects.py). One entry per field path, in
the schemas' own notation: `spec.containers[].image` (`[]` for list items, `{}`
for the values of a map of objects). `ACTS` means something here reads it and
the result runs as written; `none(why)` means it is accepted and changes
nothing, `why` saying what happens instead; `when` narrows that to the values
that make no difference (an HTTPS probe scheme, a sizeLimit on a disk emptyDir).
Map contents (labels, nodeSelector, annotations) are data, not fields.

When a controller starts acting on something listed here as recorded or
without effect, change its entry; the walker test keeps the table complete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

When = Callable[[Any, dict[str, Any]], bool]  # (value, the object holding it)


@dataclass(frozen=True)
class Effect:
    """What one field does: acts (`why` empty) or has no effect here, and why."""

    why: str = ""
    when: When | None = None


ACTS = Effect()


def none(why: str, when: When | None = None) -> Effect:
    """A field accepted with no effect (for values `when` says, or any value)."""
    return Effect(why, when)


def under(prefix: str, table: Mapping[str, Effect]) -> dict[str, Effect]:
    """`table`'s entries with `prefix.` in front (a shared type used at one more place)."""
    return {f"{prefix}.{path}": effect for path, effect in table.items()}


def _set(value: Any, parent: dict[str, Any]) -> bool:
    return bool(value)


# Kinds accepted so real folders load, and then not acted on: one warning per object.
RECORDED_KINDS: dict[str, str] = {
    "ServiceAccount": "pods run without service account tokens (there is no API server)",
    "PodDisruptionBudget": "only `reconciler drain` and the descheduler consult it "
                           "(rollouts do not)",
    "StorageClass": "claims are local Docker volumes on their pod's host",
    "HorizontalPodAutoscaler": "no metrics are collected; replicas stay as declared "
                               "(`reconciler scale` changes them)",
    "NetworkPolicy": "pods reach each other without restriction",
    "Role": "there is no API server to authorize against",
    "RoleBinding": "there is no API server to authorize against",
    "ClusterRole": "there is no API server to authorize against",
    "ClusterRoleBinding": "there is no API server to authorize against",
    "Ingress": "no ingress controller runs here; reach Services by NodePort or cluster IP",
}



META: dict[str, Effect] = {
    "apiVersion": ACTS,
    "kind": ACTS,
    "metadata": ACTS,
    "metadata.name": ACTS,
    "metadata.namespace": ACTS,
    "metadata.labels": ACTS,
    "metadata.annotations": ACTS,  # recorded and shown, as in Kubernetes
}
CLUSTER_META = {k: v for k, v in META.items() if k != "metadata.namespace"}

_NOT_PROBED_HOST = "probes connect to the container's published port on its Docker host"

PROBE: dict[str, Effect] = {
    "exec": ACTS,
    "exec.command": ACTS,
    "httpGet": ACTS,
    "httpGet.path": ACTS,
    "httpGet.port": ACTS,
    "httpGet.host": none(_NOT_PROBED_HOST, _set),
    "httpGet.scheme": none("probes speak plain HTTP", lambda v, _p: v == "HTTPS"),
    "httpGet.httpHeaders": ACTS,
    "httpGet.httpHeaders[].name": ACTS,
    "httpGet.httpHeaders[].value": ACTS,
    "tcpSocket": ACTS,
    "tcpSocket.port": ACTS,
    "tcpSocket.host": none(_NOT_PROBED_HOST, _set),
    "initialDelaySeconds": ACTS,
    "periodSeconds": ACTS,
    "timeoutSeconds": ACTS,
    "successThreshold": ACTS,
    "failureThreshold": ACTS,
}
LIVENESS = {**PROBE, "successThreshold": none(
    "a liveness probe passes on one success (Kubernetes requires 1)", lambda v, _p: v != 1)}

# Lifecycle hooks (runtime/lifecycle.py): httpGet goes where probes go.
HOOK: dict[str, Effect] = {
    **{k: v for k, v in PROBE.items() if k.startswith(("exec", "httpGet"))},
    "sleep": ACTS,
    "sleep.seconds": ACTS,
}
# securityContext (runtime/security.py, volumeperms.py), container level and pod level.
CONTAINER_SECURITY: dict[str, Effect] = {
    "securityContext": ACTS,
    "securityContext.runAsUser": ACTS,
    "securityContext.runAsGroup": ACTS,
    "securityContext.runAsNonRoot": ACTS,
    "securityContext.readOnlyRootFilesystem": ACTS,
    "securityContext.allowPrivilegeEscalation": ACTS,
    "securityContext.capabilities": ACTS,
    "securityContext.capabilities.add": ACTS,
    "securityContext.capabilities.drop": ACTS,
    "securityContext.seccompProfile": ACTS,
    "securityContext.seccompProfile.type": ACTS,
}
POD_SECURITY: dict[str, Effect] = {
    "securityContext": ACTS,
    "securityContext.runAsUser": ACTS,
    "securityContext.runAsGroup": ACTS,
    "securityContext.runAsNonRoot": ACTS,
    "securityContext.supplementalGroups": ACTS,
    "securityContext.fsGroup": ACTS,
    "securityContext.seccompProfile": ACTS,
    "securityContext.seccompProfile.type": ACTS,
    "securityContext.sysctls": ACTS,
    "securityContext.sysctls[].name": ACTS,
    "securityContext.sysctls[].value": ACTS,
}

CONTAINER: dict[str, Effect] = {
    "name": ACTS,
    "image": ACTS,
    "command": ACTS,
    "args": ACTS,
    "workingDir": ACTS,
    "env": ACTS,
    "env[].name": ACTS,
    "env[].value": ACTS,
    "env[].valueFrom": ACTS,
    "env[].valueFrom.fieldRef": ACTS,
    "env[].valueFrom.fieldRef.apiVersion": ACTS,  # v1, the only one there is
    "env[].valueFrom.fieldRef.fieldPath": ACTS,
    # ConfigMaps and Secrets: reconciler/control/configmaps.py, runtime/configfiles.py.
    **{f"env[].valueFrom.{ref}{field}": ACTS for ref in ("configMapKeyRef", "secretKeyRef")
       for field in ("", ".name", ".key", ".optional")},
    "envFrom": ACTS,
    "envFrom[].prefix": ACTS,
    **{f"envFrom[].{ref}{field}": ACTS for ref in ("configMapRef", "secretRef")
       for field in ("", ".name", ".optional")},
    "ports": ACTS,
    "ports[].name": ACTS,
    "ports[].containerPort": ACTS,
    "ports[].protocol": ACTS,
    "ports[].hostPort": ACTS,
    "ports[].hostIP": none("host ports are published on the Docker host's address", _set),
    "resources": ACTS,
    "resources.requests": ACTS,
    "resources.requests.cpu": ACTS,
    "resources.requests.memory": ACTS,
    "resources.limits": ACTS,
    "resources.limits.cpu": ACTS,
    "resources.limits.memory": ACTS,
    "volumeMounts": ACTS,
    "volumeMounts[].name": ACTS,
    "volumeMounts[].mountPath": ACTS,
    "volumeMounts[].readOnly": ACTS,
    "volumeMounts[].subPath": none(
        "subPath is not supported: the container will fail to start", _set),
    "livenessProbe": ACTS,
    **under("livenessProbe", LIVENESS),
    "readinessProbe": ACTS,
    **under("readinessProbe", PROBE),
    "startupProbe": ACTS,
    **under("startupProbe", LIVENESS),
    "lifecycle": ACTS,
    "lifecycle.postStart": ACTS,
    **under("lifecycle.postStart", HOOK),
    "lifecycle.preStop": ACTS,
    **under("lifecycle.preStop", HOOK),
    "imagePullPolicy": ACTS,
    **CONTAINER_SECURITY,
}
_INIT_NOT_PROBED = "init containers are not probed (they run to completion first)"
INIT_CONTAINER: dict[str, Effect] = {
    **{k: v for k, v in CONTAINER.items() if not k.startswith(("livenessProbe",
                                                                "readinessProbe",
                                                                "startupProbe"))},
    "livenessProbe": none(_INIT_NOT_PROBED),
    **under("livenessProbe", LIVENESS),
    "readinessProbe": none(_INIT_NOT_PROBED),
    **under("readinessProbe", PROBE),
    "startupProbe": none(_INIT_NOT_PROBED),
    **under("startupProbe", LIVENESS),
}

def _every(*paths: str) -> dict[str, Effect]:
    return dict.fromkeys(paths, ACTS)


_NODE_TERM = ("", ".matchExpressions", ".matchExpressions[].key", ".matchExpressions[].operator",
              ".matchExpressions[].values", ".matchFields", ".matchFields[].key",
              ".matchFields[].operator", ".matchFields[].values")
_LABEL_SELECTOR = ("", ".matchLabels", ".matchExpressions", ".matchExpressions[].key",
                   ".matchExpressions[].operator", ".matchExpressions[].values")


def _pod_term(prefix: str) -> dict[str, Effect]:
    bare = () if prefix.endswith("[]") else (prefix,)  # a list item is no path of its own
    return {
        **_every(*bare, f"{prefix}.namespaces", f"{prefix}.topologyKey",
                 *(f"{prefix}.labelSelector{rest}" for rest in _LABEL_SELECTOR)),
        f"{prefix}.namespaceSelector": none(
            "only an empty namespaceSelector ({}: every namespace) is read; "
            "namespaces are not selected by their labels",
            lambda v, _p: bool(v and (v.get("matchLabels") or v.get("matchExpressions")))),
        **{f"{prefix}.namespaceSelector{rest}": ACTS for rest in _LABEL_SELECTOR[1:]},
    }


_REQ = "requiredDuringSchedulingIgnoredDuringExecution"
_PREF = "preferredDuringSchedulingIgnoredDuringExecution"
# The scheduler's rules (reconciler/scheduling/, docs/scheduling.md).
SCHEDULING: dict[str, Effect] = {
    **_every("affinity", "affinity.nodeAffinity", f"affinity.nodeAffinity.{_REQ}",
             f"affinity.nodeAffinity.{_REQ}.nodeSelectorTerms",
             *(f"affinity.nodeAffinity.{_REQ}.nodeSelectorTerms[]{rest}"
               for rest in _NODE_TERM[1:]),
             f"affinity.nodeAffinity.{_PREF}", f"affinity.nodeAffinity.{_PREF}[].weight",
             *(f"affinity.nodeAffinity.{_PREF}[].preference{rest}" for rest in _NODE_TERM)),
    **{key: effect for kind in ("podAffinity", "podAntiAffinity") for key, effect in {
        **_every(f"affinity.{kind}", f"affinity.{kind}.{_REQ}", f"affinity.{kind}.{_PREF}",
                 f"affinity.{kind}.{_PREF}[].weight"),
        **_pod_term(f"affinity.{kind}.{_REQ}[]"),
        **_pod_term(f"affinity.{kind}.{_PREF}[].podAffinityTerm"),
    }.items()},
    **_every("tolerations", *(f"tolerations[].{f}" for f in (
        "key", "operator", "value", "effect", "tolerationSeconds"))),
    **_every("topologySpreadConstraints", *(f"topologySpreadConstraints[].{f}" for f in (
        "maxSkew", "topologyKey", "whenUnsatisfiable", "minDomains", "nodeAffinityPolicy",
        "nodeTaintsPolicy")), *(f"topologySpreadConstraints[].labelSelector{rest}"
                                for rest in _LABEL_SELECTOR)),
}

POD_SPEC: dict[str, Effect] = {
    "containers": ACTS,
    **under("containers[]", CONTAINER),
    "initContainers": ACTS,
    **under("initContainers[]", INIT_CONTAINER),
    "volumes": ACTS,
    "volumes[].name": ACTS,
    "volumes[].emptyDir": ACTS,
    "volumes[].emptyDir.medium": ACTS,
    "volumes[].emptyDir.sizeLimit": none(
        "only a Memory emptyDir (a tmpfs) has a size here; on disk it is unbounded",
        lambda _v, parent: parent.get("medium") != "Memory"),
    "volumes[].hostPath": ACTS,
    "volumes[].hostPath.path": ACTS,
    "volumes[].hostPath.type": none(
        "the path is bound as it is, its type unchecked (a missing one is made a directory)",
        lambda v, _p: v not in ("", "DirectoryOrCreate")),
    "volumes[].persistentVolumeClaim": ACTS,
    "volumes[].persistentVolumeClaim.claimName": ACTS,
    "volumes[].persistentVolumeClaim.readOnly": ACTS,
    **{f"volumes[].{source}": ACTS for source in ("configMap", "secret", "projected")},
    **{f"volumes[].{source}.{field}": ACTS for source, fields in (
        ("configMap", ("name", "items", "items[].key", "items[].path", "items[].mode",
                       "defaultMode", "optional")),
        ("secret", ("secretName", "items", "items[].key", "items[].path", "items[].mode",
                    "defaultMode", "optional")),
        ("projected", ("sources", "defaultMode", *(
            f"sources[].{kind}{rest}" for kind in ("configMap", "secret")
            for rest in ("", ".name", ".items", ".items[].key", ".items[].path",
                         ".items[].mode", ".optional")))),
    ) for field in fields},
    "nodeSelector": ACTS,
    "nodeName": ACTS,
    "restartPolicy": ACTS,
    "terminationGracePeriodSeconds": ACTS,
    "shareProcessNamespace": ACTS,
    "enableServiceLinks": ACTS,
    "hostname": ACTS,
    "subdomain": ACTS,
    "dnsPolicy": ACTS,
    # Pull credentials: reconciler/runtime/pullrules.py, the pod's Secrets via configmaps.py.
    "imagePullSecrets": ACTS,
    "imagePullSecrets[].name": ACTS,
    **POD_SECURITY,
    **SCHEDULING,
}

TEMPLATE: dict[str, Effect] = {
    "metadata": ACTS,
    "metadata.name": none("a controller names its pods after itself"),
    "metadata.labels": ACTS,
    "metadata.annotations": ACTS,
    "spec": ACTS,
    **under("spec", POD_SPEC),
}

SELECTOR: dict[str, Effect] = {
    "matchLabels": ACTS,
    "matchExpressions": ACTS,
    "matchExpressions[].key": ACTS,
    "matchExpressions[].operator": ACTS,
    "matchExpressions[].values": ACTS,
}

_WORKLOAD: dict[str, Effect] = {
    **META,
    "spec": ACTS,
    "spec.replicas": ACTS,
    "spec.selector": ACTS,
    "spec.template": ACTS,
    **under("spec.template", TEMPLATE),
    "spec.minReadySeconds": ACTS,
}

_CLAIMS = "spec.volumeClaimTemplates[]"
_ONE_HOST = ("a claim is a Docker volume on one host: ReadWriteOnce, whatever is asked")
_NO_SIZE = "Docker volumes have no size limit (the request is shown as CAPACITY only)"
# A PersistentVolumeClaim's spec, standalone or a StatefulSet's claim template.
CLAIM_SPEC: dict[str, Effect] = {
    "accessModes": none(_ONE_HOST, lambda v, _p: any(
        m not in ("ReadWriteOnce", "ReadWriteOncePod") for m in v or [])),
    "resources": ACTS,
    "resources.requests": ACTS,
    "resources.requests.storage": none(_NO_SIZE),
    "resources.limits": ACTS,
    "resources.limits.storage": none(_NO_SIZE),
    "storageClassName": none("claims are local Docker volumes; there are no storage classes",
                             _set),
    "volumeMode": ACTS,
}


FIELDS: dict[str, dict[str, Effect]] = {
    "Pod": {**META, "spec": ACTS, **under("spec", POD_SPEC)},
    "ReplicationController": _WORKLOAD,
    "ReplicaSet": {**_WORKLOAD, **under("spec.selector", SELECTOR)},
    "Deployment": {
        **_WORKLOAD,
        **under("spec.selector", SELECTOR),
        "spec.strategy": ACTS,
        "spec.strategy.type": ACTS,
        "spec.strategy.rollingUpdate": ACTS,
        "spec.strategy.rollingUpdate.maxSurge": ACTS,
        "spec.strategy.rollingUpdate.maxUnavailable": ACTS,
        "spec.revisionHistoryLimit": ACTS,
        "spec.progressDeadlineSeconds": ACTS,
        "spec.paused": ACTS,
    },
    "StatefulSet": {
        **_WORKLOAD,
        **under("spec.selector", SELECTOR),
        "spec.serviceName": ACTS,
        "spec.podManagementPolicy": ACTS,
        "spec.updateStrategy": ACTS,
        "spec.updateStrategy.type": ACTS,
        "spec.updateStrategy.rollingUpdate": ACTS,
        "spec.updateStrategy.rollingUpdate.partition": ACTS,
        "spec.revisionHistoryLimit": none("no revision history is kept here", _set),
        "spec.volumeClaimTemplates": ACTS,
        f"{_CLAIMS}.apiVersion": ACTS,
        f"{_CLAIMS}.kind": ACTS,
        f"{_CLAIMS}.metadata": ACTS,
        f"{_CLAIMS}.metadata.name": ACTS,
        f"{_CLAIMS}.metadata.labels": ACTS,
        f"{_CLAIMS}.metadata.annotations": ACTS,
        f"{_CLAIMS}.spec": ACTS,
        **under(f"{_CLAIMS}.spec", CLAIM_SPEC),
        "spec.persistentVolumeClaimRetentionPolicy": ACTS,
        "spec.persistentVolumeClaimRetentionPolicy.whenDeleted": ACTS,
        "spec.persistentVolumeClaimRetentionPolicy.whenScaled": ACTS,
        "spec.ordinals": ACTS,
        "spec.ordinals.start": ACTS,
    },
    "DaemonSet": {
        **{k: v for k, v in _WORKLOAD.items() if k != "spec.replicas"},
        **under("spec.selector", SELECTOR),
        "spec.updateStrategy": ACTS,
        "spec.updateStrategy.type": ACTS,
        "spec.updateStrategy.rollingUpdate": ACTS,
        "spec.updateStrategy.rollingUpdate.maxSurge": ACTS,
        "spec.updateStrategy.rollingUpdate.maxUnavailable": ACTS,
        "spec.revisionHistoryLimit": none("no revision history is kept here (no rollout undo "
                                          "for DaemonSets)", _set),
    },
    # control/jobs.py (planning/job*.py); Kubernetes' other Job fields warn as unsupported.
    "Job": {
        **META,
        "spec": ACTS,
        **{f"spec.{f}": ACTS for f in (
            "completions", "parallelism", "backoffLimit", "activeDeadlineSeconds",
            "ttlSecondsAfterFinished", "completionMode", "suspend", "template")},
        **under("spec.template", TEMPLATE),
    },
    # control/cronjobs.py (planning/cronjob*.py) makes the Jobs; control/jobs.py runs them.
    "CronJob": {
        **META,
        "spec": ACTS,
        **{f"spec.{f}": ACTS for f in (
            "schedule", "timeZone", "concurrencyPolicy", "suspend", "startingDeadlineSeconds",
            "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "jobTemplate",
            "jobTemplate.metadata", "jobTemplate.metadata.labels",
            "jobTemplate.metadata.annotations", "jobTemplate.spec")},
        "spec.jobTemplate.metadata.name": none("a CronJob names its Jobs <name>-<minutes since "
                                               "the epoch of the start>"),
        **{f"spec.jobTemplate.spec.{f}": ACTS for f in (
            "completions", "parallelism", "backoffLimit", "activeDeadlineSeconds",
            "ttlSecondsAfterFinished", "completionMode", "suspend", "template")},
        **under("spec.jobTemplate.spec.template", TEMPLATE),
    },
    "Service": {
        **META,
        "spec": ACTS,
        "spec.selector": ACTS,
        "spec.ports": ACTS,
        "spec.ports[].name": ACTS,
        "spec.ports[].port": ACTS,
        "spec.ports[].targetPort": ACTS,
        "spec.ports[].protocol": ACTS,
        "spec.ports[].nodePort": ACTS,
        "spec.type": ACTS,  # LoadBalancer is served as NodePort, with its own warning
        "spec.clusterIP": ACTS,
        "spec.externalIPs": ACTS,
        "spec.externalName": ACTS,
        "spec.sessionAffinity": ACTS,
        "spec.publishNotReadyAddresses": ACTS,
    },
    "Endpoints": {
        **META,
        "subsets": ACTS,
        **{f"subsets[].{group}{rest}": ACTS
           for group in ("addresses", "notReadyAddresses")
           for rest in ("", "[].ip", "[].hostname", "[].nodeName")},
        "subsets[].ports": ACTS,
        "subsets[].ports[].name": ACTS,
        "subsets[].ports[].port": ACTS,
        "subsets[].ports[].protocol": ACTS,
    },
    "Namespace": CLUSTER_META,  # recorded and listed: all a namespace is here
    # Consumed by pods (env, envFrom, volumes): control/configmaps.py, runtime/configfiles.py.
    "ConfigMap": {**META, "data": ACTS, "binaryData": ACTS, "immutable": ACTS},
    "Secret": {**META, "data": ACTS, "stringData": ACTS, "type": ACTS, "immutable": ACTS},
    "PersistentVolumeClaim": {**META, "spec": ACTS, **under("spec", CLAIM_SPEC)},
    "Node": {
        **CLUSTER_META,
        "spec": ACTS,
        "spec.engine": ACTS,
        "spec.address": ACTS,
        "spec.agent": ACTS,  # service/agent_node.py: the machine's agent runs the node
        "spec.tls": ACTS,
        "spec.tls.ca": ACTS,
        "spec.tls.cert": ACTS,
        "spec.tls.key": ACTS,
        "spec.tls.verify": ACTS,
        "spec.capacity": ACTS,
        "spec.capacity.cpu": ACTS,
        "spec.capacity.memory": ACTS,
        "spec.unschedulable": ACTS,
        "spec.maxPods": ACTS,
        "spec.taints": ACTS,
        "spec.taints[].key": ACTS,
        "spec.taints[].value": ACTS,
        "spec.taints[].effect": ACTS,
    },
}
