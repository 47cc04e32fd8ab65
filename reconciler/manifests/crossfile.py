"""Rules across the whole desired set: duplicates, Service selectors and targetPorts, claims.

Run by reconciler.manifests.loader after every load over all valid objects (also
those of unchanged files), since a change in one file can break another.
Decisions: a duplicate is an error at every place it is declared (so no version of
it wins by file order, and the objects last recorded stay in force); a named
targetPort that no matching pod template declares is a warning, as Kubernetes
accepts it (the endpoints of those pods stay empty), and the pods may be declared
elsewhere. A Service whose selector matches no declared pod template, and a
claim that no PersistentVolumeClaim or StatefulSet claim template provides, are
warnings too: nothing runs wrong, but nothing runs as the user meant.

Every rule runs per object under `guarded`: a bug in a rule (or an input no rule
foresaw) becomes an "internal error in RULE" finding on that object's file
alone, never an exception out of the loader.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.api.selectors import Selector, from_label_selector, from_map
from reconciler.api.types import JSON, DesiredObject, Key
from reconciler.manifests.fields import Path_
from reconciler.manifests.podrules import pod_port_names

_TEMPLATED = frozenset({"ReplicationController", "ReplicaSet", "Deployment", "StatefulSet",
                        "DaemonSet"})
# Kinds whose spec.selector is a plain label map, never a LabelSelector: a key named
# `matchLabels` there is a label key like any other.
_MAP_SELECTED = frozenset({"ReplicationController", "Service"})


@dataclass(frozen=True)
class CrossFinding:
    """A finding about one object; `path` is relative to the object body."""

    severity: str
    obj: DesiredObject
    path: Path_
    message: str


def _where(obj: DesiredObject) -> str:
    p = obj.position
    doc = f" (document {p.document + 1})" if p.document else ""
    return f"{p.file}:{p.line}:{p.column}{doc}"


def duplicates(objects: list[DesiredObject]) -> list[CrossFinding]:
    """Every declaration of a key declared more than once, each naming the others."""
    by_key: dict[Key, list[DesiredObject]] = defaultdict(list)
    for obj in objects:
        by_key[obj.key].append(obj)
    out: list[CrossFinding] = []
    for key, group in by_key.items():
        if len(group) < 2:
            continue
        for obj in group:
            others = ", ".join(_where(o) for o in group if o is not obj)
            out.append(CrossFinding("error", obj, ("metadata", "name"),
                                    f"{key} is declared more than once: also at {others}"))
    return out


def pod_template(obj: DesiredObject) -> tuple[Path_, dict[str, str], JSON] | None:
    """(where the pod spec sits, pod labels, pod spec) of a Pod or of any kind's pod template."""
    body = obj.body
    if obj.key.kind == "Pod":
        return ("spec",), body["metadata"].get("labels") or {}, body["spec"]
    if obj.key.kind in _TEMPLATED or obj.key.kind == "Job":
        where: Path_ = ("spec", "template")
        template = body["spec"]["template"]
    elif obj.key.kind == "CronJob":
        where = ("spec", "jobTemplate", "spec", "template")
        template = body["spec"]["jobTemplate"]["spec"]["template"]
    else:
        return None
    labels = (template.get("metadata") or {}).get("labels") or {}
    return (*where, "spec"), labels, template["spec"]


def _pod_templates(objects: list[DesiredObject]) -> list[tuple[str, dict[str, str], JSON]]:
    """(namespace, labels, pod spec) of every Pod and template."""
    found: list[tuple[str, dict[str, str], JSON]] = []
    for obj in objects:
        template = pod_template(obj)
        if template is not None:
            found.append((obj.key.namespace, template[1], template[2]))
    return found


def target_ports(objects: list[DesiredObject]) -> list[CrossFinding]:
    """Named targetPorts that none of the pods a Service selects declares."""
    services = [o for o in objects if o.key.kind == "Service"
                and o.body["spec"].get("selector")
                and any(isinstance(p.get("targetPort"), str) and not p["targetPort"].isdigit()
                        for p in o.body["spec"].get("ports") or [])]
    if not services:
        return []
    index = _template_index(objects)
    out: list[CrossFinding] = []
    for svc in services:
        out += guarded("targetPort names", svc, _target_ports, index)
    return out


_Index = dict[tuple[str, str, str], list[tuple[dict[str, str], JSON]]]


def _template_index(objects: list[DesiredObject]) -> _Index:
    """(labels, pod spec) of the pod templates by (namespace, label, value).

    A Service selector's first pair narrows the scan with it, so thousands of Services
    over thousands of templates is not quadratic (10,000 files: 16 s).
    """
    index: _Index = {}
    for ns, labels, spec in _pod_templates(objects):
        for k, v in labels.items():
            index.setdefault((ns, k, str(v)), []).append((labels, spec))
    return index


def _selected(svc: DesiredObject, index: _Index) -> list[JSON]:
    """Pod specs of the templates a Service's (non-empty) selector matches."""
    k, v = next(iter(svc.body["spec"]["selector"].items()))
    matches = selector_of(svc).matches
    return [spec for labels, spec in index.get((svc.key.namespace, str(k), str(v)), [])
            if matches({str(a): str(b) for a, b in labels.items()})]


def _target_ports(svc: DesiredObject, index: _Index) -> list[CrossFinding]:
    selected = _selected(svc, index)
    if not selected:
        return []  # the pods may come from elsewhere; nothing to check against
    out: list[CrossFinding] = []
    declared = set().union(*(pod_port_names(spec) for spec in selected))
    for i, port in enumerate(svc.body["spec"]["ports"]):
        target = port.get("targetPort")
        if isinstance(target, str) and not target.isdigit() and target not in declared:
            out.append(CrossFinding(
                "warning", svc, ("spec", "ports", i, "targetPort"),
                f"targetPort {target!r} is not a port name of any of the {len(selected)} "
                "pod template(s) the selector matches; those pods get no endpoints"))
    return out


def selector_of(obj: DesiredObject) -> Selector:
    """The selector of a Service or workload, in the form its kind uses."""
    raw = obj.body["spec"].get("selector") or {}
    if obj.key.kind in _MAP_SELECTED:
        return from_map({str(k): str(v) for k, v in raw.items()})
    return from_label_selector(raw)


def unselected_services(objects: list[DesiredObject]) -> list[CrossFinding]:
    """Services with a selector that matches no Pod or pod template declared in their namespace."""
    services = [o for o in objects if o.key.kind == "Service" and o.body["spec"].get("selector")]
    if not services:
        return []
    index = _template_index(objects)
    out: list[CrossFinding] = []
    for svc in services:
        out += guarded("Service selector", svc, _unselected, index)
    return out


def _unselected(svc: DesiredObject, index: _Index) -> list[CrossFinding]:
    if _selected(svc, index):
        return []
    return [CrossFinding("warning", svc, ("spec", "selector"),
                         "the selector matches no Pod or pod template declared in namespace "
                         f"{svc.key.namespace!r}: the Service has no endpoints")]


def _claim_names(objects: list[DesiredObject]
                 ) -> tuple[set[tuple[str, str]], list[re.Pattern[str]]]:
    """Claims declared, and the name patterns of StatefulSet members' claims, by namespace."""
    declared = {(o.key.namespace, o.key.name) for o in objects
                if o.key.kind == "PersistentVolumeClaim"}
    patterns: list[re.Pattern[str]] = []
    for o in objects:
        if o.key.kind == "StatefulSet":
            for claim in o.body["spec"].get("volumeClaimTemplates") or []:
                name = str((claim.get("metadata") or {}).get("name", ""))
                patterns.append(re.compile(
                    re.escape(f"{o.key.namespace}/{name}-{o.key.name}-") + r"\d+"))
    return declared, patterns


def unprovided_claims(objects: list[DesiredObject]) -> list[CrossFinding]:
    """Pod volumes naming a claim that nothing declared here creates (the pod stays Pending)."""
    declared, patterns = _claim_names(objects)
    out: list[CrossFinding] = []
    for obj in objects:
        out += guarded("claims", obj, _unprovided, declared, patterns)
    return out


def _unprovided(obj: DesiredObject, declared: set[tuple[str, str]],
                patterns: list[re.Pattern[str]]) -> list[CrossFinding]:
    template = pod_template(obj)
    if template is None:
        return []
    prefix, _, spec = template
    own = set()
    if obj.key.kind == "StatefulSet":
        own = {str((c.get("metadata") or {}).get("name", ""))
               for c in obj.body["spec"].get("volumeClaimTemplates") or []}
    out: list[CrossFinding] = []
    ns = obj.key.namespace
    for i, volume in enumerate(spec.get("volumes") or []):
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not isinstance(claim, str) or not claim or claim in own or (ns, claim) in declared \
                or any(p.fullmatch(f"{ns}/{claim}") for p in patterns):
            continue
        out.append(CrossFinding(
            "warning", obj, (*prefix, "volumes", i, "persistentVolumeClaim", "claimName"),
            f"claim {claim!r} is not declared in namespace {ns!r} (no PersistentVolumeClaim, "
            "no StatefulSet claim template): the pod stays Pending until it is"))
    return out


def internal_message(check: str, e: BaseException) -> str:
    """The words of an internal error: which check, and what it raised."""
    return f"internal error in {check}: {type(e).__name__}: {e}"


def guarded(check: str, obj: DesiredObject, rule: Callable[..., Iterable[CrossFinding]],
            *args: Any) -> list[CrossFinding]:
    """`rule(obj, *args)`: its findings about `obj`, or one error naming the check if it raises."""
    try:
        return list(rule(obj, *args))
    except Exception as e:  # any bug or unforeseen input: that object's file fails, alone
        return [CrossFinding("error", obj, (), internal_message(check, e))]


def check_all(objects: list[DesiredObject], whole: bool = True) -> list[CrossFinding]:
    """Every cross-object rule; those about what is missing only when `objects` is the whole
    desired set (a folder), not some files of it (`validate FILE`)."""
    found = duplicates(objects) + target_ports(objects)
    if whole:
        found += unselected_services(objects) + unprovided_claims(objects)
    return found
