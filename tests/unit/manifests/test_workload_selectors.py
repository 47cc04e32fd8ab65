"""A workload's selector against its template, through the one matcher (api.selectors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import load_folder

RS = """apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 1
  selector:
%s
  template:
    metadata:
      labels: {app: web, tier: fe}
    spec:
      containers:
      - name: web
        image: web:1
"""


class TestWorkloadSelectors:
    """matchLabels and matchExpressions must select the template's own labels."""

    @pytest.mark.parametrize("selector", [
        "    matchLabels: {app: web}",
        "    matchExpressions: [{key: tier, operator: In, values: [fe, be]}]",
        "    matchExpressions: [{key: tier, operator: Exists}]",
        "    matchExpressions: [{key: canary, operator: DoesNotExist}]",
        "    matchExpressions: [{key: tier, operator: NotIn, values: [be]}]",
    ])
    def test_selecting_its_template(self, tmp_path: Path, selector: str) -> None:
        """A selector that matches the template's labels loads without a diagnostic."""
        (tmp_path / "rs.yaml").write_text(RS % selector)
        result = load_folder(tmp_path)
        assert result.diagnostics == [] and len(result.objects) == 1

    @pytest.mark.parametrize("selector", [
        "    matchLabels: {app: db}",
        "    matchExpressions: [{key: tier, operator: NotIn, values: [fe]}]",
        "    matchExpressions: [{key: tier, operator: DoesNotExist}]",
    ])
    def test_missing_its_template(self, tmp_path: Path, selector: str) -> None:
        """A selector that would never see the set's own pods is an error."""
        (tmp_path / "rs.yaml").write_text(RS % selector)
        result = load_folder(tmp_path)
        assert result.objects == []
        assert any("does not match the pod template labels" in d.render()
                   for d in result.diagnostics)

    def test_bad_expression_value(self, tmp_path: Path) -> None:
        """A matchExpressions value that is no label value is an error at that value."""
        (tmp_path / "rs.yaml").write_text(
            RS % "    matchExpressions: [{key: tier, operator: In, values: [fe, -bad]}]")
        result = load_folder(tmp_path)
        assert result.objects == []
        [error] = result.diagnostics
        assert "spec.selector.matchExpressions[0].values[1]: invalid selector: value '-bad'" \
            in error.render()
