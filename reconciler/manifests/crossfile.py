"""Rules across the whole desired set: duplicate declarations and Service targetPort names.

Run by reconciler.manifests.loader after every load over all valid objects (also
those of unchanged files), since a change in one file can break another.
Decisions: a duplicate is an error at every place it is declared (so no version of
it wins by file order, and the objects last recorded stay in force); a named
targetPort that no matching pod template declares is a warning, as Kubernetes
accepts it (the endpoints of those pods stay empty), and the pods may be declared
elsewhere.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from reconciler.api.selectors import SelectorError, from_spec_selector
from reconciler.api.types import JSON, DesiredObject, Key
from reconciler.manifests.fields import Path_
from reconciler.manifests.podrules import pod_port_names

_TEMPLATED = frozenset({"ReplicationController", "ReplicaSet", "Deployment", "StatefulSet",
                        "DaemonSet"})


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


def _pod_templates(objects: list[DesiredObject]) -> list[tuple[str, dict[str, str], JSON]]:
    """(namespace, labels, pod spec) of every Pod and controller template."""
    found: list[tuple[str, dict[str, str], JSON]] = []
    for obj in objects:
        body = obj.body
        if obj.key.kind == "Pod":
            found.append((obj.key.namespace, body["metadata"].get("labels") or {}, body["spec"]))
        elif obj.key.kind in _TEMPLATED:
            template = body["spec"]["template"]
            labels = (template.get("metadata") or {}).get("labels") or {}
            found.append((obj.key.namespace, labels, template["spec"]))
    return found


def target_ports(objects: list[DesiredObject]) -> list[CrossFinding]:
    """Named targetPorts that none of the pods a Service selects declares."""
    services = [o for o in objects if o.key.kind == "Service"
                and o.body["spec"].get("selector")
                and any(isinstance(p.get("targetPort"), str) and not p["targetPort"].isdigit()
                        for p in o.body["spec"].get("ports") or [])]
    if not services:
        return []
    pods = _pod_templates(objects)
    # Candidates by (namespace, label, value): a selector's first pair narrows the scan, so
    # thousands of Services over thousands of templates is not quadratic (10,000 files: 16 s).
    index: dict[tuple[str, str, object], list[tuple[dict[str, str], JSON]]] = {}
    for ns, labels, spec in pods:
        for k, v in labels.items():
            index.setdefault((ns, k, v), []).append((labels, spec))
    out: list[CrossFinding] = []
    for svc in services:
        selector = svc.body["spec"]["selector"]
        if "matchLabels" in selector or "matchExpressions" in selector:
            candidates = [(labels, spec) for ns, labels, spec in pods if ns == svc.key.namespace]
        else:
            k, v = next(iter(selector.items()))
            candidates = index.get((svc.key.namespace, k, v), [])
        try:
            matches = from_spec_selector(selector).matches
        except SelectorError:
            continue  # the Service's own check reports a malformed selector
        selected = [spec for labels, spec in candidates if matches(labels)]
        if not selected:
            continue  # the pods may come from elsewhere; nothing to check against
        declared = set().union(*(pod_port_names(spec) for spec in selected))
        for i, port in enumerate(svc.body["spec"]["ports"]):
            target = port.get("targetPort")
            if isinstance(target, str) and not target.isdigit() and target not in declared:
                out.append(CrossFinding(
                    "warning", svc, ("spec", "ports", i, "targetPort"),
                    f"targetPort {target!r} is not a port name of any of the {len(selected)} "
                    "pod template(s) the selector matches; those pods get no endpoints"))
    return out


def check_all(objects: list[DesiredObject]) -> list[CrossFinding]:
    """Every cross-object rule."""
    return duplicates(objects) + target_ports(objects)
