"""PodDisruptionBudgets: how many of a budget's pods may be evicted now (voluntary disruption).

Read by `reconciler drain` (cli/drain.py), which evicts a node's pods one at a time
and asks here first, as kubectl drain's eviction calls are refused by the API
server while a budget has no disruption left. Mirrors the disruption controller's
status: expected pods (the budget's selector over its namespace, pods being
deleted left out), healthy pods (of those, Ready), desiredHealthy from
minAvailable (an integer or a percentage of expected, rounded up) or from
maxUnavailable (expected less it, a percentage rounded up), and
disruptionsAllowed = healthy - desiredHealthy, never below 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.api import selectors
from reconciler.api.records import PodRecord

VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def _scaled(value: Any, total: int) -> int:
    """An IntOrString of a budget: an integer, or "N%" of `total` rounded up."""
    text = str(value)
    if text.endswith("%"):
        return math.ceil(int(text[:-1]) * total / 100)
    return int(text)


def selects(budget: Mapping[str, Any], pod: PodRecord) -> bool:
    """Whether the budget (a PodDisruptionBudget body) covers the pod."""
    meta, spec = budget.get("metadata") or {}, budget.get("spec") or {}
    if (meta.get("namespace") or "default") != pod.namespace:
        return False
    return selectors.from_label_selector(spec.get("selector")).matches(pod.labels)


def disruptions_allowed(budget: Mapping[str, Any], pods: Sequence[PodRecord]) -> int:
    """How many more of the budget's pods may go now."""
    spec = budget.get("spec") or {}
    covered = [p for p in pods if selects(budget, p) and p.deletion_timestamp is None]
    expected = len(covered)
    healthy = sum(1 for p in covered if p.ready)
    if spec.get("maxUnavailable") is not None:
        desired = expected - _scaled(spec["maxUnavailable"], expected)
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = expected  # minAvailable 100%: Kubernetes' default for an empty spec
    return max(healthy - desired, 0)


def blocking(pod: PodRecord, budgets: Sequence[Mapping[str, Any]],
             pods: Sequence[PodRecord]) -> str:
    """The name of a budget that forbids evicting `pod` now, or "" when it may go."""
    for budget in budgets:
        if selects(budget, pod) and disruptions_allowed(budget, pods) <= 0:
            return str((budget.get("metadata") or {}).get("name", ""))
    return ""
