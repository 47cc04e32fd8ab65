"""PodDisruptionBudgets: disruptions allowed, and which budget holds a pod back."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.records import Condition, PodRecord
from reconciler.scheduling.disruption import blocking, disruptions_allowed

from .factories import pod


def web(name: str, ready: bool = True, **kw: Any) -> PodRecord:
    p = pod(name, labels={"app": "web"}, node_name="a", **kw)
    p.conditions = [Condition("Ready", ready)]
    return p


def budget(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-pdb", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


class TestDisruptionsAllowed:
    @pytest.mark.parametrize(("spec", "allowed"), [
        ({"minAvailable": 2}, 1),
        ({"minAvailable": "50%"}, 1),
        ({"minAvailable": 3}, 0),
        ({"maxUnavailable": 2}, 1),
        ({"maxUnavailable": "25%"}, 0),  # one of four may be down, and one is
        ({}, 0),
    ])
    def test_counts(self, spec: dict[str, Any], allowed: int) -> None:
        """Healthy less desired healthy, from minAvailable or maxUnavailable (percent up)."""
        pods = [web("w0"), web("w1"), web("w2"), web("w3", ready=False)]
        assert disruptions_allowed(budget(**spec), pods) == allowed

    def test_blocking(self) -> None:
        """A pod covered by an exhausted budget is held back; others are not."""
        pods = [web("w0"), web("w1")]
        assert blocking(pods[0], [budget(minAvailable=2)], pods) == "web-pdb"
        assert blocking(pods[0], [budget(minAvailable=1)], pods) == ""
        other = pod("o", labels={"app": "db"})
        assert blocking(other, [budget(minAvailable=2)], [*pods, other]) == ""
