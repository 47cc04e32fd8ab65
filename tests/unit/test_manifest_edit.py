"""Tests of the byte-preserving manifest edit behind `reconciler scale`."""

from __future__ import annotations

import json

import pytest

from reconciler.api.manifest_edit import EditError, set_replicas

RC = """\
# the web tier
apiVersion: v1
kind: ReplicationController
metadata:
  name: web   # keep me
spec:
  replicas: 2   # scaled by hand
  template:
    metadata:
      labels: {name: web}
"""


class TestSetReplicas:
    def test_only_the_value_changes(self) -> None:
        """Comments, spacing and order stay byte for byte; only the number differs."""
        out = set_replicas(RC, "ReplicationController", "default", "web", 10)
        assert out == RC.replace("replicas: 2 ", "replicas: 10 ")

    def test_picks_the_named_document(self) -> None:
        """In a multi-document file only the named object's replicas change."""
        text = RC.replace("name: web", "name: api") + "---\n" + RC
        out = set_replicas(text, "ReplicationController", "default", "web", 5)
        first, second = out.split("---\n")
        assert "replicas: 2 " in first and "replicas: 5 " in second

    def test_inserts_when_absent(self) -> None:
        """A spec without replicas gets the key at the indentation of its first key."""
        text = RC.replace("  replicas: 2   # scaled by hand\n", "")
        out = set_replicas(text, "ReplicationController", "default", "web", 3)
        assert "spec:\n  replicas: 3\n  template:" in out

    def test_json_stays_json(self) -> None:
        """A JSON manifest is edited in place and still parses as JSON."""
        text = json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ReplicationController",
                "metadata": {"name": "web"},
                "spec": {"template": {}},
            }
        )
        out = set_replicas(text, "ReplicationController", "default", "web", 4)
        assert json.loads(out)["spec"]["replicas"] == 4

    def test_flow_style(self) -> None:
        """Flow-style (KYAML) specs keep their braces."""
        text = "{kind: ReplicaSet, metadata: {name: web}, spec: {replicas: 1, template: {}}}\n"
        out = set_replicas(text, "ReplicaSet", "default", "web", 7)
        assert out == text.replace("replicas: 1", "replicas: 7")

    def test_namespace_must_match(self) -> None:
        """An object in another namespace is not the one asked for."""
        with pytest.raises(EditError, match="not declared"):
            set_replicas(RC, "ReplicationController", "prod", "web", 1)

    def test_list_items(self) -> None:
        """Objects inside a kind: List are found."""
        text = (
            "kind: List\nitems:\n- kind: ReplicaSet\n"
            "  metadata: {name: a}\n  spec:\n    replicas: 1\n"
        )
        assert "replicas: 9" in set_replicas(text, "ReplicaSet", "default", "a", 9)
