"""The OpenAPI documents (/openapi/v2, /openapi/v3) generated from the project's own schemas.

Served by the app `app.py` builds (this module's `routes`), so that `kubectl explain`
and kubectl's validation of what it sends work. Each kind of `resources.RESOURCES`
gets a definition from its file in reconciler/schemas/ (the kind -> file table is
`reconciler.manifests.kinds.KINDS`), named as Kubernetes names it
(`io.k8s.api.apps.v1.Deployment`) and tagged with `x-kubernetes-group-version-kind`,
which is how kubectl finds a kind's schema. Descriptions our schemas lack are taken
from Kubernetes' own (`reconciler.manifests.k8sfields`), walked in step.

Paths carry one PATCH operation per kind that lists the `fieldValidation` query
parameter: kubectl then leaves validation to the server (writes.py runs the
project's validator). It validates on the client only what v3 cannot vouch for (a
`kind: List` file), against /openapi/v2 in protobuf (`openapi_pb.py`); other clients
get v2 as JSON. The documents depend only on the schema files, so each is
built once per process and served with an ETag; the /openapi/v3 index gives every
group/version document's URL with its hash, as Kubernetes does, so clients cache them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reconciler.kubeapi import k8sdocs, openapi_pb
from reconciler.kubeapi.resources import RESOURCES, Resource
from reconciler.manifests.kinds import KINDS
from reconciler.manifests.schemas import raw_schema

PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2"
SKIP_KEYS = frozenset({"$schema", "$defs", "$id", "title", "additionalProperties", "type",
                       "const", "$ref", "properties", "items", "description"})
# What the server fills in: never in a manifest, always in what it serves (and so in what
# `kubectl edit` sends back).
SERVER_META: dict[str, Any] = {
    "uid": {"type": "string"}, "resourceVersion": {"type": "string"},
    "generation": {"type": "integer", "format": "int64"},
    "creationTimestamp": {"type": "string", "format": "date-time"},
    "deletionTimestamp": {"type": "string", "format": "date-time"},
    "generateName": {"type": "string"}, "selfLink": {"type": "string"},
    "finalizers": {"type": "array", "items": {"type": "string"}},
    "ownerReferences": {"type": "array", "items": {"type": "object"}},
    "managedFields": {"type": "array", "items": {"type": "object"}},
}
# Kept as named definitions as Kubernetes keeps them (`maxSurge <IntOrString>`).
NAMED_SCALARS = {"IntOrString": "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
                 "Quantity": "io.k8s.apimachinery.pkg.api.resource.Quantity"}
META_DEFS = frozenset({"ObjectMeta", "ClusterMeta", "TemplateMeta"})


class _Builder:
    """Converts JSON Schema (draft 2020-12) nodes to OpenAPI schema objects, collecting defs."""

    def __init__(self, v3: bool) -> None:
        self.v3 = v3
        self.prefix = "#/components/schemas/" if v3 else "#/definitions/"
        self.defs: dict[str, dict[str, Any]] = {}

    def def_name(self, doc: str, name: str) -> str:
        if "." in name:  # already Kubernetes' qualified name (the generated schemas)
            return name
        stem = "" if doc == "defs.json" else doc.removesuffix(".json") + "."
        return f"dev.reconciler.{stem}{name}"

    def ref(self, doc: str, target: str, k8s: dict[str, Any] | None,
            k8s_def: dict[str, Any] | None = None) -> dict[str, Any]:
        """A reference to our definition `target`, converted on first use; a scalar inlined.

        `k8s` is Kubernetes' node at the referring field, `k8s_def` its type's own
        definition (what a shared definition's description must come from).
        """
        file, _, pointer = target.partition("#")
        doc = file or doc
        node: Any = raw_schema(doc)
        for part in pointer.strip("/").split("/"):
            if part:
                node = node[part]
        local = pointer.rsplit("/", 1)[-1]
        if "properties" not in node and local not in NAMED_SCALARS:
            # A name, a label map, a port: Kubernetes inlines these (`name <string>`).
            return self.convert(doc, node, k8s)
        name = NAMED_SCALARS.get(local) or self.def_name(doc, local)
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: a def that refers to itself stops here
            out = self.convert(doc, node, k8s_def if k8s_def is not None else k8s)
            if local in META_DEFS:
                out.setdefault("properties", {}).update(
                    {k: v for k, v in SERVER_META.items() if k not in out["properties"]})
            self.defs[name] = out
        return {"$ref": self.prefix + name}

    def convert(self, doc: str, node: dict[str, Any], k8s: dict[str, Any] | None) -> dict[str, Any]:
        """The OpenAPI form of `node` of schema file `doc`; `k8s` is Kubernetes' node there."""
        own = k8sdocs.target(k8s)
        k8s = k8sdocs.deref(k8s)
        if "$ref" in node:
            ref = self.ref(doc, node["$ref"], k8s, own)
            text = node.get("description") or (k8s or {}).get("description")
            if not text:
                return ref
            if "$ref" not in ref:  # inlined: the description goes on the node itself
                return {**ref, "description": text}
            # OpenAPI 3.0 ignores a $ref's siblings: Kubernetes wraps it in allOf to say more.
            if self.v3:
                return {"allOf": [ref], "description": text}
            return {**ref, "description": text}
        out: dict[str, Any] = {k: v for k, v in node.items() if k not in SKIP_KEYS}
        text = node.get("description") or (k8s or {}).get("description")
        if text:
            out["description"] = text
        if "const" in node:
            out["enum"] = [node["const"]]
        out.update(self.type_of(node))
        if isinstance(node.get("properties"), dict):
            out["type"] = "object"
            out["properties"] = {
                key: self.convert(doc, child, k8sdocs.child(k8s, key))
                for key, child in node["properties"].items()
            }
            out["properties"].update(k8sdocs.other_fields(k8s, out["properties"]))
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out["type"] = "object"
            out["additionalProperties"] = self.convert(doc, extra, k8sdocs.child(k8s, "*"))
        elif extra is True and self.v3:
            out["x-kubernetes-preserve-unknown-fields"] = True
        if isinstance(node.get("items"), dict):
            out["type"] = "array"
            out["items"] = self.convert(doc, node["items"], k8sdocs.child(k8s, 0))
        out.update(k8sdocs.list_extensions(k8s))
        return out

    def type_of(self, node: dict[str, Any]) -> dict[str, Any]:
        kind = node.get("type")
        if isinstance(kind, str):
            return {"type": kind}
        if isinstance(kind, list) and "string" in kind and len(kind) == 2:
            # IntOrString and Quantity: Kubernetes' own spelling of "number or string".
            if self.v3:
                return {"x-kubernetes-int-or-string": True}
            return {"type": "string", "format": "int-or-string"}
        return {}

    def kind_def(self, r: Resource) -> tuple[str, dict[str, Any]]:
        """The name and definition of `r`'s kind, with its group-version-kind extension."""
        schema_file, k8s_type = _schema_file(r)
        name = k8s_type or f"io.k8s.api.{(r.group or 'core').split('.')[0]}.{r.version}.{r.kind}"
        out: dict[str, Any]
        if schema_file is None:
            # Served, never declared (events, component statuses): fields left open.
            k8s = k8sdocs.node(name)
            meta = self.ref("defs.json", "#/$defs/ObjectMeta", None,
                            k8sdocs.target(k8sdocs.child(k8s, "metadata")))
            props = {"metadata": meta}
            props.update(k8sdocs.other_fields(k8s, props, note=""))
            out = {"type": "object", "properties": props,
                   "description": (k8s or {}).get("description") or f"A {r.kind} (read only)."}
            if self.v3:
                out["x-kubernetes-preserve-unknown-fields"] = True
        else:
            k8s = k8sdocs.node(k8s_type)
            out = self.convert(schema_file, raw_schema(schema_file), k8s)
            if k8s and k8s.get("description"):  # ours may be a note on what is implemented
                out["description"] = k8s["description"]
        props = out.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "description": k8sdocs.API_VERSION}
        props["kind"] = {"type": "string", "description": k8sdocs.KIND}
        props.setdefault("status", {"type": "object", "description": (
            "Observed state, written by reconciler (read only).")})
        out["x-kubernetes-group-version-kind"] = [
            {"group": r.group, "kind": r.kind, "version": r.version}]
        self.defs[name] = out
        return name, out


def _schema_file(r: Resource) -> tuple[str | None, str | None]:
    """The schema file and Kubernetes type name of `r`'s kind (None, None: no schema)."""
    info = KINDS.get(r.kind)
    if info is None or r.group_version not in info.api_versions:
        # Not a manifest kind here (events), or another kind under the name: a Node is
        # declared as reconciler.dev/v1 but served as Kubernetes' v1 Node.
        return None, None
    for version, schema, k8s_type in info.by_version:
        if version == r.group_version and not schema.startswith("legacy"):
            return schema, k8s_type
    return info.schema, info.k8s_type


def _params(names: Iterable[str], v3: bool) -> list[dict[str, Any]]:
    out = []
    for name in names:
        schema = {"type": "string"}
        out.append({"name": name, "in": "query", "schema": schema} if v3 else
                   {"name": name, "in": "query", "type": "string"})
    return out


WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def _operation(b: _Builder, r: Resource, action: str, ref: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{action}{r.group_version.replace('/', '_')}{r.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "kind": r.kind,
                                            "version": r.version},
        "responses": {"200": {"description": "OK"}},
    }
    writes = action in ("post", "put", "patch")
    op["parameters"] = _params(WRITE_PARAMS if writes else (), b.v3)
    if b.v3:
        op["responses"]["200"]["content"] = {"application/json": {"schema": ref}}
        if writes:
            types = PATCH_TYPES if action == "patch" else ("application/json",)
            op["requestBody"] = {"content": {t: {"schema": ref} for t in types},
                                 "required": True}
    else:
        op["responses"]["200"]["schema"] = ref
        if writes:
            op["parameters"].append({"name": "body", "in": "body", "required": True,
                                     "schema": ref})
    return op


def _paths(b: _Builder, r: Resource, name: str) -> dict[str, dict[str, Any]]:
    ref = {"$ref": b.prefix + name}
    base = r.base_path + ("/namespaces/{namespace}" if r.namespaced else "") + f"/{r.plural}"
    collection: dict[str, Any] = {}
    item: dict[str, Any] = {}
    if "list" in r.verbs:
        collection["get"] = _operation(b, r, "list", ref)
    if "create" in r.verbs:
        collection["post"] = _operation(b, r, "post", ref)
    for verb, action in (("get", "get"), ("update", "put"), ("patch", "patch"),
                         ("delete", "delete")):
        if verb in r.verbs:
            item[action] = _operation(b, r, action, ref)
    return {base: collection, base + "/{name}": item}


def _document(group: str | None, version: str | None, v3: bool) -> dict[str, Any]:
    """The document for one group/version (v3), or for everything (group None: v2)."""
    b = _Builder(v3)
    paths: dict[str, Any] = {}
    for r in RESOURCES:
        if group is not None and (r.group, r.version) != (group, version):
            continue
        name, _ = b.kind_def(r)
        paths.update(_paths(b, r, name))
    info = {"title": "Kubernetes (reconciler)", "version": "v1.32.0"}
    if v3:
        return {"openapi": "3.0.0", "info": info, "paths": paths,
                "components": {"schemas": dict(sorted(b.defs.items()))}}
    return {"swagger": "2.0", "info": info, "paths": paths,
            "definitions": dict(sorted(b.defs.items()))}


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@cache
def served(key: str) -> tuple[bytes, str]:
    """The JSON bytes and hash of "v2" or a v3 group/version key ("api/v1", "apis/apps/v1")."""
    if key in ("v2", "v2.pb"):
        doc = _document(None, None, v3=False)
        if key == "v2.pb":
            body = openapi_pb.document(doc)
            return body, hashlib.sha512(body).hexdigest()[:32].upper()
    else:
        parts = key.split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        doc = _document(group, version, v3=True)
    body = json.dumps(doc, separators=(",", ":"), sort_keys=False).encode()
    return body, hashlib.sha512(body).hexdigest()[:32].upper()


def v3_keys() -> list[str]:
    """The group/version keys of the /openapi/v3 index, in table order."""
    return list(dict.fromkeys(_gv_key(r.group, r.version) for r in RESOURCES))


def _answer(request: Request, body: bytes, digest: str,
            media_type: str = "application/json") -> Response:
    headers = {"ETag": f'"{digest}"', "Vary": "Accept"}
    if request.query_params.get("hash") == digest:
        headers["Cache-Control"] = "public, immutable"  # the URL names this exact content
    if request.headers.get("if-none-match") == f'"{digest}"':
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def v2_form(accept: str) -> str | None:
    """"json" or "protobuf": the first form an Accept header admits; None: neither."""
    if not accept.strip():
        return "json"
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("application/json", "application/*", "*/*"):
            return "json"
        if media.startswith(PROTOBUF_V2):
            return "protobuf"
    return None


async def openapi_v2(request: Request) -> Response:
    accept = request.headers.get("accept", "")
    form = v2_form(accept)
    if form is None:
        from reconciler.kubeapi.status import status_response

        return status_response(406, "NotAcceptable", f"{accept} is not served: JSON or "
                               f"{PROTOBUF_V2}@v1.0+protobuf")
    if form == "protobuf":
        # Kubernetes' own reply type: "@" is not valid in a Content-Type (Go's parser refuses it).
        return _answer(request, *served("v2.pb"), media_type=PROTOBUF_V2 + ".v1.0+protobuf")
    return _answer(request, *served("v2"))


async def openapi_v3_index(request: Request) -> Response:
    paths = {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={served(key)[1]}"}
             for key in v3_keys()}
    return Response(json.dumps({"paths": paths}), media_type="application/json")


async def openapi_v3(request: Request) -> Response:
    key = request.path_params["path"].strip("/")
    if key not in v3_keys():
        from reconciler.kubeapi.status import status_response

        return status_response(404, "NotFound", f"no OpenAPI document for {key}")
    return _answer(request, *served(key))


def routes(ctx: object) -> list[BaseRoute]:
    """The OpenAPI routes; the documents do not depend on `ctx`."""
    return [
        Route("/openapi/v2", openapi_v2, methods=["GET"]),
        Route("/openapi/v3", openapi_v3_index, methods=["GET"]),
        Route("/openapi/v3/{path:path}", openapi_v3, methods=["GET"]),
    ]
