"""Immutable ConfigMaps and Secrets: a change to one is refused, as the API server refuses it.

Pure; called by the desired controller (reconciler.control.desired) between
`diff` and applying the plan. An update of a recorded ConfigMap or Secret
marked `immutable: true` that changes its data, or that takes the mark off,
is turned back into "unchanged": the recorded object stays in force, and the
controller records Kubernetes' message as a warning event on it. Deleting such
an object (and declaring it again) is allowed, as in Kubernetes.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.api.types import Key
from reconciler.planning.diff import Change, Plan

_KINDS = frozenset({"ConfigMap", "Secret"})
_DATA = ("data", "binaryData", "type")


def _violation(change: Change) -> str:
    if change.action != "update" or change.key.kind not in _KINDS:
        return ""
    if change.recorded is None or change.desired is None:
        return ""
    old, new = change.recorded.body, change.desired.body
    if old.get("immutable") is not True:
        return ""
    fields = [f for f in _DATA if old.get(f) != new.get(f)]
    if new.get("immutable") is not True:
        fields.append("immutable")
    if not fields:
        return ""
    return (f'{change.key.kind} "{change.key.name}" is invalid: {", ".join(fields)}: '
            "Forbidden: field is immutable when `immutable` is set")


def hold_immutable(plan: Plan) -> tuple[Plan, list[tuple[Key, str]]]:
    """The plan without changes to immutable objects, and why each was held."""
    held: list[tuple[Key, str]] = []
    changes = []
    for change in plan.changes:
        why = _violation(change)
        if why:
            held.append((change.key, why))
            change = replace(change, action="unchanged", fields=(), refresh=False)
        changes.append(change)
    if not held:
        return plan, held
    return replace(plan, changes=tuple(changes)), held
