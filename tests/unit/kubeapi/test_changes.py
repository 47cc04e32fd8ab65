"""Unit tests of kubeapi/changes.py: what a client's write changes in a manifest."""

from __future__ import annotations

import json
from typing import Any

from reconciler.kubeapi.changes import (
    LAST_APPLIED,
    REMOVE,
    applied_config,
    carry,
    diff,
    new_file,
    strip,
)

MANIFEST: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}},
}
# As served: defaults, status and server metadata the manifest never declared.
SERVED: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7",
                 "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"restartPolicy": "Always", "containers": [
            {"name": "main", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"}]}}},
    "status": {"replicas": 1},
}


def _after(**spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(SERVED))
    out["spec"].update(spec)
    return out


class TestStrip:
    def test_server_fields_go(self) -> None:
        """status, uid, resourceVersion and the last-applied annotation are not declarable."""
        obj = json.loads(json.dumps(SERVED))
        obj["metadata"]["annotations"] = {LAST_APPLIED: "{}", "keep": "me"}
        out = strip(obj)
        assert "status" not in out
        assert out["metadata"] == {"name": "web", "namespace": "default",
                                   "annotations": {"keep": "me"}}


class TestDiffAndCarry:
    def test_scale_changes_only_replicas(self) -> None:
        """A changed replicas count is one change, carried as is; defaults stay out."""
        delta = diff(strip(SERVED), strip(_after(replicas=3)))
        assert delta == [(("spec", "replicas"), 3)]
        out = carry(MANIFEST, delta, strip(_after(replicas=3)))
        assert out["spec"]["replicas"] == 3
        assert "imagePullPolicy" not in out["spec"]["template"]["spec"]["containers"][0]

    def test_image_change_is_one_item_field(self) -> None:
        """A changed image in a list of the same length changes that field only."""
        after = json.loads(json.dumps(SERVED))
        after["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        delta = diff(strip(SERVED), strip(after))
        assert delta == [(("spec", "template", "spec", "containers", 0, "image"), "nginx:2")]
        out = carry(MANIFEST, delta, strip(after))
        assert out["spec"]["template"]["spec"]["containers"] == [
            {"name": "main", "image": "nginx:2"}]

    def test_replace_without_defaults_removes_nothing(self) -> None:
        """A full object lacking defaulted fields (kubectl replace) removes none of the
        manifest's; a declared field it drops goes."""
        body = json.loads(json.dumps(MANIFEST))
        del body["spec"]["template"]["metadata"]
        out = carry(MANIFEST, diff(strip(SERVED), strip(body)), strip(body))
        assert "metadata" not in out["spec"]["template"]
        assert out["spec"]["template"]["spec"] == MANIFEST["spec"]["template"]["spec"]

    def test_missing_parent_takes_whole_value(self) -> None:
        """A change under a field the manifest never declared brings that field whole."""
        after = _after()
        after["spec"]["strategy"] = {"type": "Recreate"}
        delta = diff(strip(SERVED), strip(after))
        assert delta == [(("spec", "strategy"), {"type": "Recreate"})]
        before = json.loads(json.dumps(SERVED))
        before["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {}}
        delta = diff(strip(before), strip(after))
        out = carry(MANIFEST, delta, strip(after))
        assert out["spec"]["strategy"] == {"type": "Recreate"}

    def test_removal(self) -> None:
        """A label removed is a REMOVE change; absent parents make it a no-op."""
        before = json.loads(json.dumps(SERVED))
        before["metadata"]["labels"] = {"a": "1"}
        after = json.loads(json.dumps(SERVED))
        after["metadata"]["labels"] = {}
        delta = diff(strip(before), strip(after))
        assert delta == [(("metadata", "labels", "a"), REMOVE)]
        manifest = {**MANIFEST, "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}}}
        assert carry(manifest, delta, strip(after))["metadata"]["labels"] == {"b": "2"}
        assert carry(MANIFEST, delta, strip(after)) == MANIFEST


class TestAppliedConfig:
    def test_reads_annotation(self) -> None:
        """kubectl apply's patch carries the file applied in its annotation."""
        patch = {"metadata": {"annotations": {LAST_APPLIED: json.dumps(MANIFEST)}}}
        assert applied_config(patch) == MANIFEST
        assert applied_config({"spec": {}}) is None
        assert applied_config({"metadata": {"annotations": {LAST_APPLIED: "not json"}}}) is None


class TestNewFile:
    def test_paths(self) -> None:
        """Namespaced objects go under their namespace's folder, others at the root."""
        assert new_file("Deployment", "team", "api") == "team/deployment-api.yaml"
        assert new_file("Namespace", None, "team") == "namespace-team.yaml"
