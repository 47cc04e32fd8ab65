"""What each accepted kind and field does here: the one table behind every "no effect" warning.

Runs in reconciler.manifests.document on each valid body, before defaulting
(so only what the user wrote is reported). An accepted kind or field that
changes nothing on the Docker hosts is never silent: it gets a `NoEffect`
warning here, which `validate` prints, `plan` shows beside the object, and the
service records as an event on the object and counts in `get cs`
(reconciler.control.desired). Kubernetes fields outside our schemas are
reported by reconciler.manifests.fields with the same wording.

The tables themselves live in reconciler.manifests.effects_table, one entry per
field path; tests/unit/manifests/test_effects.py walks every kind and field path
the bundled schemas accept and fails when one is in neither state, or when an
entry names a path no schema has. When a controller starts acting on a kind or
field, change its entry there (and nothing else).
"""

from __future__ import annotations

from typing import Any

from reconciler.api.types import JSON
from reconciler.manifests.effects_table import FIELDS, RECORDED_KINDS, Effect
from reconciler.manifests.fields import Finding, NoEffect, Path_, path_text

__all__ = ["FIELDS", "RECORDED_KINDS", "Effect", "check", "kind_message", "notes"]


def kind_message(kind: str) -> str | None:
    """`kind X is recorded but not acted on: why`, or None for a kind that acts."""
    why = RECORDED_KINDS.get(kind)
    return None if why is None else f"kind {kind} is recorded but not acted on: {why}"


def _applies(effect: Effect, value: Any, parent: JSON) -> bool:
    return bool(effect.why) and (effect.when is None or effect.when(value, parent))


def check(kind: str, body: JSON) -> list[Finding]:
    """NoEffect warnings for `body` (a valid, not yet defaulted object of `kind`)."""
    message = kind_message(kind)
    if message is not None:
        # One warning for the whole object: none of its fields acts either.
        return [NoEffect("warning", ("kind",), message)]
    table = FIELDS.get(kind)
    if table is None:
        return []
    out: list[Finding] = []
    stack: list[tuple[Any, str, Path_]] = [(body, "", ())]
    while stack:
        value, pattern, path = stack.pop()
        if isinstance(value, list):
            stack.extend((item, pattern + "[]", (*path, i)) for i, item in enumerate(value))
            continue
        if not isinstance(value, dict):
            continue
        for key, item in value.items():
            field = f"{pattern}.{key}" if pattern else str(key)
            effect = table.get(field)
            if effect is None and f"{pattern}{{}}" in table:
                # A map whose values are objects: the key is data, the value has fields.
                stack.append((item, f"{pattern}{{}}", (*path, key)))
                continue
            if effect is None:
                continue  # map data (labels, nodeSelector): not a field
            if _applies(effect, item, value):
                out.append(NoEffect("warning", (*path, key),
                                    f"field {key} has no effect here: {effect.why}", True))
                continue  # what lies under a field without effect has none either
            stack.append((item, field, (*path, key)))
    out.sort(key=lambda f: [str(s) for s in f.path])
    return out


def notes(findings: list[Finding]) -> tuple[str, ...]:
    """An object's NoEffect findings as lines for `plan` and events: `PATH: message`."""
    return tuple(f"{path_text(f.path)}: {f.message}" if f.path != ("kind",) else f.message
                 for f in findings if isinstance(f, NoEffect))
