"""Unit tests of kubeapi/openapi.py: the documents kubectl explain and kubectl's validation read."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette

from reconciler.kubeapi import openapi
from reconciler.kubeapi.resources import RESOURCES
from tests.unit.kubeapi.asgi_call import call

PB = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


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

    @pytest.mark.parametrize(("accept", "form"), [
        ("", "json"), ("application/json", "json"), ("*/*", "json"),
        (PB, "protobuf"), (f"{PB}, application/json", "protobuf"),
        (f"application/json, {PB}", "json"), ("text/html", None),
    ])
    def test_v2_is_json_or_protobuf_as_asked(self, accept: str, form: str | None) -> None:
        """/openapi/v2 answers the first form the client accepts; 406 when none."""
        answer = call(self.app, "/openapi/v2", headers={"accept": accept} if accept else {})
        if form is None:
            assert answer.status == 406
        elif form == "json":
            assert answer.status == 200 and answer.json()["swagger"] == "2.0"
        else:
            # Kubernetes' own reply type: Go's MIME parser refuses the "@" of the request's.
            assert answer.headers["content-type"] == (
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
            assert _fields(answer.body)[1] == [b"2.0"]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes) -> dict[int, list[Any]]:
    """A protobuf message's fields by number (length-delimited ones as bytes)."""
    out: dict[int, list[Any]] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = struct.unpack("<d", data[at:at + 8])[0], at + 8
        else:
            size, at = _varint(data, at)
            value, at = data[at:at + size], at + size
        out.setdefault(number, []).append(value)
    return out


def _named(data: bytes) -> tuple[str, bytes]:
    f = _fields(data)
    return f[1][0].decode(), f[2][0]


class TestProtobuf:
    def test_definitions_as_kubectl_reads_them(self) -> None:
        """The protobuf Document has every JSON definition, with types, properties and GVK."""
        doc = _fields(openapi.served("v2.pb")[0])
        assert doc[1] == [b"2.0"]
        defs = dict(_named(d) for d in _fields(doc[9][0])[1])
        assert set(defs) == set(_doc("v2")["definitions"])
        deploy = _fields(defs["io.k8s.api.apps.v1.Deployment"])
        assert _fields(deploy[22][0])[1] == [b"object"]  # type
        props = dict(_named(p) for p in _fields(deploy[25][0])[1])
        assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(props)
        extensions = dict(_named(e) for e in deploy[31])
        gvk = yaml.safe_load(_fields(extensions["x-kubernetes-group-version-kind"])[2][0])
        assert gvk == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
        replicas = _fields(_fields(props["spec"])[25][0])
        spec_props = dict(_named(p) for p in replicas[1])
        assert _fields(spec_props["replicas"])[9] == [0.0]  # minimum, a double

    def test_refs_and_arrays(self) -> None:
        """A $ref is field 1 (kubectl follows it); an array has exactly one item schema."""
        defs = dict(_named(d) for d in _fields(_fields(openapi.served("v2.pb")[0])[9][0])[1])
        pod_spec = _fields(defs["dev.reconciler.PodSpec"])
        props = dict(_named(p) for p in _fields(pod_spec[25][0])[1])
        containers = _fields(props["containers"])
        items = _fields(containers[23][0])[1]
        assert len(items) == 1
        assert _fields(items[0])[1] == [b"#/definitions/dev.reconciler.Container"]


class TestServedFields:
    def test_kubernetes_fields_we_do_not_define_are_open_and_marked(self) -> None:
        """A Service's clusterIPs (served, not in our schema) is known, typed and marked."""
        doc = _doc("api/v1")
        spec = _at(doc, _gvk_schema(doc, "", "v1", "Service"), ["spec"])
        ips = spec["properties"]["clusterIPs"]
        assert ips["type"] == "array" and ips["items"] == {"type": "string"}
        assert "reconciler validate" in ips["description"]

    def test_node_is_kubernetes_node_not_the_manifest_kind(self) -> None:
        """A Node is served as v1 Node: its schema is not the reconciler.dev/v1 manifest's."""
        doc = _doc("api/v1")
        node = _gvk_schema(doc, "", "v1", "Node")
        assert "required" not in node and "type" not in node["properties"]["spec"]
