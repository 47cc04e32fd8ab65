"""Unit tests of kubeapi/openapi.py: the documents kubectl explain and kubectl's validation read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette

from reconciler.kubeapi import openapi
from reconciler.kubeapi.resources import RESOURCES
from tests.unit.kubeapi.asgi_call import call


def _doc(key: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(openapi.served(key)[0])
    return doc


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _gvk_schema(doc: dict[str, Any], group: str, version: str, kind: str) -> dict[str, Any]:
    for schema in doc["components"]["schemas"].values():
        if {"group": group, "version": version, "kind": kind} in schema.get(
                "x-kubernetes-group-version-kind", []):
            found: dict[str, Any] = schema
            return found
    raise AssertionError(f"no schema for {group}/{version} {kind}")


def _at(doc: dict[str, Any], node: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """The schema at a field path, following refs (and allOf-wrapped refs) as kubectl does."""
    schemas = doc["components"]["schemas"]
    for name in path:
        node = node["properties"][name]
        while "$ref" in node or "allOf" in node:
            ref = node["$ref"] if "$ref" in node else node["allOf"][0]["$ref"]
            node = schemas[ref.rsplit("/", 1)[-1]]
    return node


class TestV3Documents:
    @pytest.mark.parametrize("r", RESOURCES, ids=lambda r: f"{r.group_version}/{r.kind}")
    def test_every_kind_has_a_schema_tagged_with_its_gvk(self, r: Any) -> None:
        """kubectl finds each served kind's schema by x-kubernetes-group-version-kind."""
        key = f"apis/{r.group}/{r.version}" if r.group else f"api/{r.version}"
        schema = _gvk_schema(_doc(key), r.group, r.version, r.kind)
        assert {"apiVersion", "kind", "metadata"} <= set(schema["properties"])

    @pytest.mark.parametrize("key", openapi.v3_keys())
    def test_every_ref_resolves_inside_its_document(self, key: str) -> None:
        """A group/version document is self-contained, as kubectl reads it alone."""
        doc = _doc(key)
        names = set(doc["components"]["schemas"])
        missing = {r for r in _refs(doc) if r.removeprefix("#/components/schemas/") not in names}
        assert not missing

    def test_explain_deployment_spec_strategy(self) -> None:
        """The strategy field has Kubernetes' description, its type enum and rollingUpdate."""
        doc = _doc("apis/apps/v1")
        deploy = _gvk_schema(doc, "apps", "v1", "Deployment")
        strategy = _at(doc, deploy, ["spec", "strategy"])
        assert "replace existing pods" in strategy["description"]
        assert strategy["properties"]["type"]["enum"] == ["RollingUpdate", "Recreate"]
        surge = _at(doc, deploy, ["spec", "strategy", "rollingUpdate", "maxSurge"])
        assert surge.get("x-kubernetes-int-or-string") is True

    def test_patch_operations_list_field_validation(self) -> None:
        """kubectl's fieldValidation check finds the query parameter on each kind's PATCH."""
        doc = _doc("apis/apps/v1")
        patches = [op["patch"] for op in doc["paths"].values() if "patch" in op]
        kinds = {p["x-kubernetes-group-version-kind"]["kind"] for p in patches}
        assert {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"} <= kinds
        for p in patches:
            assert any(q["name"] == "fieldValidation" and q["in"] == "query"
                       for q in p["parameters"])
            assert "application/strategic-merge-patch+json" in p["requestBody"]["content"]

    def test_containers_carry_the_patch_merge_key(self) -> None:
        """Strategic merge patches kubectl computes merge containers by name."""
        doc = _doc("api/v1")
        pod = _gvk_schema(doc, "", "v1", "Pod")
        containers = _at(doc, pod, ["spec"])["properties"]["containers"]
        assert containers["x-kubernetes-patch-merge-key"] == "name"
        assert containers["x-kubernetes-patch-strategy"] == "merge"

    def test_served_metadata_fields_are_known(self) -> None:
        """What the server adds (uid, resourceVersion...) is in the schema: edits send it back."""
        doc = _doc("api/v1")
        meta = _at(doc, _gvk_schema(doc, "", "v1", "ConfigMap"), ["metadata"])
        assert {"uid", "resourceVersion", "creationTimestamp", "ownerReferences"} <= set(
            meta["properties"])


class TestV2Document:
    def test_definitions_carry_gvk_and_refs_resolve(self) -> None:
        """The v2 document (JSON) holds every kind, with #/definitions refs that resolve."""
        doc = _doc("v2")
        assert doc["swagger"] == "2.0"
        tagged = {(g["group"], g["version"], g["kind"]) for d in doc["definitions"].values()
                  for g in d.get("x-kubernetes-group-version-kind", [])}
        assert {(r.group, r.version, r.kind) for r in RESOURCES} <= tagged
        assert all(r.removeprefix("#/definitions/") in doc["definitions"] for r in _refs(doc))

    def test_int_or_string_is_spelled_as_kubernetes_does(self) -> None:
        """v2 has no int-or-string extension: a string with format int-or-string."""
        int_or_string = _doc("v2")["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
        assert (int_or_string["type"], int_or_string["format"]) == ("string", "int-or-string")


class TestRoutes:
    app = Starlette(routes=openapi.routes(None))

    def test_index_names_each_document_with_its_hash(self) -> None:
        """/openapi/v3 gives every group/version's URL with the hash of its content."""
        paths = call(self.app, "/openapi/v3").json()["paths"]
        assert set(paths) == set(openapi.v3_keys())
        url = paths["apis/apps/v1"]["serverRelativeURL"]
        assert url == f"/openapi/v3/apis/apps/v1?hash={openapi.served('apis/apps/v1')[1]}"

    def test_a_hashed_url_is_immutable_and_etag_answers_304(self) -> None:
        """Clients cache by hash; a revalidation with the ETag gets 304 and no body."""
        digest = openapi.served("api/v1")[1]
        first = call(self.app, "/openapi/v3/api/v1", query=f"hash={digest}")
        assert first.status == 200 and "immutable" in first.headers["cache-control"]
        again = call(self.app, "/openapi/v3/api/v1",
                     headers={"if-none-match": first.headers["etag"]})
        assert again.status == 304 and again.body == b""

    def test_unknown_group_version_is_a_404_status(self) -> None:
        """A document that does not exist is a NotFound Status."""
        answer = call(self.app, "/openapi/v3/apis/example.com/v1")
        assert answer.status == 404 and answer.json()["reason"] == "NotFound"

    @pytest.mark.parametrize(("accept", "code"), [
        ("", 200), ("application/json", 200), ("*/*", 200),
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 406),
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json", 200),
    ])
    def test_v2_is_json_only(self, accept: str, code: int) -> None:
        """/openapi/v2 answers JSON when JSON is acceptable, else 406 (no protobuf here)."""
        answer = call(self.app, "/openapi/v2", headers={"accept": accept} if accept else {})
        assert answer.status == code
        if code == 200:
            assert answer.json()["swagger"] == "2.0"
