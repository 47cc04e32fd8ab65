"""What the cache files its records under, how it copies them, and which pods an object selects.

Helpers of `reconciler.control.cache`: the index functions of pods and
objects (client-go's IndexFuncs), the fast copies handed to readers (a record
is plain data: dicts and lists of JSON and small dataclasses, so a structured
copy is several times cheaper than `copy.deepcopy`), the selector each kind of
object selects pods with (as the replication, StatefulSet and endpoints code
compute it), the field groups of a pod patch (the store's `patch_pods`), and
`select_pods`: a selector's pods as set algebra over the pod indexes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from reconciler.api.records import PodRecord
from reconciler.api.selectors import (
    Requirement,
    Selector,
    SelectorError,
    from_label_selector,
    from_map,
)
from reconciler.api.types import Key
from reconciler.control.indexer import Indexer, IndexFunc
from reconciler.scheduling.inter_pod_affinity import has_rules
from reconciler.store.records import ObjectRecord

POD = "Pod"

# Index names, shared by pods and objects where they mean the same thing.
BY_NAMESPACE = "namespace"
BY_OWNER = "owner"  # pods: the controlling owner's uid
BY_NODE = "node"  # pods: the node they are bound to ("" is not filed)
BY_LABEL = "label"  # pods: each "key=value" pair (keys cannot contain "=")
BY_LABEL_KEY = "label-key"  # pods: each label key, for Exists / DoesNotExist
BY_NAME = "name"  # pods: "namespace/name", unique among live pods
# pods: "bound" for a bound pod with pod (anti-)affinity terms, whose rules can keep any
# newcomer out of a domain (the scheduler snapshot's HavePodsWithAffinityList)
BY_INTER_POD = "inter-pod"
BY_KIND = "kind"  # objects
BY_UID = "uid"  # objects: a pod's owner reference points here
BY_SELECTS = "selects"  # objects: see selects_values

# Record attributes behind each field group of the store's `patch_pods` (PATCH_GROUPS
# names columns; these are the same groups in PodRecord's terms).
PATCH_FIELDS: dict[str, tuple[str, ...]] = {
    "owner": ("owner",),
    "metadata": ("labels", "annotations", "revision"),
    "spec": ("spec", "spec_hash"),
    "deletion": ("deletion_timestamp", "reason", "message"),
    "schedule": ("node_name", "host_ip", "conditions", "phase"),
    "status": ("phase", "reason", "message", "pod_ip", "host_ip", "ports", "start_time",
               "conditions", "containers", "init_containers"),
}

_SELECTOR_KINDS = frozenset({"ReplicaSet", "StatefulSet", "Deployment", "DaemonSet"})


def pod_indexers() -> dict[str, IndexFunc[PodRecord]]:
    return {
        BY_NAMESPACE: lambda p: (p.namespace,),
        BY_OWNER: lambda p: (p.owner.uid,) if p.owner is not None else (),
        BY_NODE: lambda p: (p.node_name,) if p.node_name else (),
        BY_LABEL: lambda p: [f"{k}={v}" for k, v in p.labels.items()],
        BY_LABEL_KEY: lambda p: list(p.labels),
        BY_NAME: lambda p: (f"{p.namespace}/{p.name}",),
        BY_INTER_POD: lambda p: ("bound",) if p.node_name and has_rules(p.spec) else (),
    }


def object_indexers(
    selectors: Mapping[Key, Selector | None],
) -> dict[str, IndexFunc[ObjectRecord]]:
    """Object indexes; `selectors` holds each object's parsed selector, set before filing."""
    return {
        BY_NAMESPACE: lambda o: (o.key.namespace,),
        BY_KIND: lambda o: (o.key.kind,),
        BY_UID: lambda o: (o.uid,),
        BY_SELECTS: lambda o: selector_values(o.key.namespace, selectors.get(o.key)),
    }


def object_selector(obj: ObjectRecord) -> Selector | None:
    """The pods `obj` selects: an RC's or Service's map, a set's LabelSelector; None for none."""
    kind = obj.key.kind
    spec: Mapping[str, Any] = obj.body.get("spec") or {}
    try:
        if kind == "ReplicationController":
            # An RC without a selector selects its template's labels (RC defaulting).
            template = spec.get("template") or {}
            labels = spec.get("selector") or (template.get("metadata") or {}).get("labels")
            return from_map({str(k): str(v) for k, v in (labels or {}).items()})
        if kind in _SELECTOR_KINDS:
            return from_label_selector(spec.get("selector"))
        if kind == "Service":
            # Selectorless and ExternalName services manage no endpoints from pods.
            raw = spec.get("selector")
            if not raw or spec.get("type") == "ExternalName":
                return None
            return from_map({str(k): str(v) for k, v in raw.items()})
    except SelectorError:
        return None
    return None


def selector_values(namespace: str, selector: Selector | None) -> tuple[str, ...]:
    """Where an object is filed in BY_SELECTS: one required label pair's values, or "*".

    Every pod the selector matches carries one of the pairs of its first equality
    or `in` requirement, so looking up the pod's own pairs (`selects_values`)
    finds the object; a selector with no such requirement is filed under "*",
    which every lookup includes.
    """
    if selector is None or selector.nothing:
        return ()
    for req in selector.requirements:
        if req.operator in ("=", "==", "in"):
            return tuple(f"{namespace} {req.key}={v}" for v in req.values)
    return (f"{namespace} *",)


def selects_values(namespace: str, labels: Mapping[str, str]) -> list[str]:
    """The BY_SELECTS values to look up for a pod with these labels."""
    return [f"{namespace} *", *(f"{namespace} {k}={v}" for k, v in labels.items())]


def copy_json(value: Any) -> Any:
    """A copy of JSON-shaped data (dicts, lists, scalars); other objects are deep-copied."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return copy.deepcopy(value)


def copy_pod(pod: PodRecord) -> PodRecord:
    """A copy sharing nothing mutable with `pod` (statuses and conditions hold only values)."""
    out = copy.copy(pod)
    out.spec = copy_json(pod.spec)
    out.labels = dict(pod.labels)
    out.annotations = dict(pod.annotations)
    out.ports = dict(pod.ports)
    out.conditions = [copy.copy(c) for c in pod.conditions]
    out.containers = [copy.copy(c) for c in pod.containers]
    out.init_containers = [copy.copy(c) for c in pod.init_containers]
    return out


def copy_object(obj: ObjectRecord) -> ObjectRecord:
    """A copy whose body and status are the caller's own (the record itself is frozen)."""
    out = copy.copy(obj)
    object.__setattr__(out, "body", copy_json(obj.body))
    object.__setattr__(out, "status", None if obj.status is None else copy_json(obj.status))
    return out


def select_pods(
    pods: Indexer[str, PodRecord], namespace: str | None, selector: Selector | None,
    node: str | None, owner_uid: str | None,
) -> set[str]:
    """The uids of the pods passing every filter, by set algebra over the pod indexes.

    `=`/`in` intersect the union of their pairs' sets, `exists` the key's set;
    `!=`/`notin`/`!` subtract; only `>`/`<` have no index and test the labels.
    """
    if selector is not None and selector.nothing:
        return set()
    wanted: list[set[str]] = []  # intersected
    unwanted: list[set[str]] = []  # subtracted
    for name, value in ((BY_NAMESPACE, namespace), (BY_NODE, node), (BY_OWNER, owner_uid)):
        if value is not None:
            wanted.append(_union(pods.index_sets(name, [value])))
    residual: list[Requirement] = []
    for req in selector.requirements if selector is not None else ():
        pairs = [f"{req.key}={v}" for v in req.values]
        if req.operator in ("=", "==", "in"):
            wanted.append(_union(pods.index_sets(BY_LABEL, pairs)))
        elif req.operator == "exists":
            wanted.append(_union(pods.index_sets(BY_LABEL_KEY, [req.key])))
        elif req.operator in ("!=", "notin"):
            unwanted.extend(pods.index_sets(BY_LABEL, pairs))
        elif req.operator == "!":
            unwanted.extend(pods.index_sets(BY_LABEL_KEY, [req.key]))
        else:  # gt, lt: numeric comparisons have no index
            residual.append(req)
    if wanted:
        wanted.sort(key=len)
        found = set(wanted[0])
        for keys in wanted[1:]:
            if not found:
                break
            found &= keys
    else:
        found = set(pods.keys())
    for keys in unwanted:
        found -= keys
    if residual:
        found = {u for u in found
                 if (p := pods.get(u)) is not None and all(r.matches(p.labels) for r in residual)}
    return found


def _union(sets: list[set[str]]) -> set[str]:
    if len(sets) == 1:
        return sets[0]
    out: set[str] = set()
    for s in sets:
        out |= s
    return out
