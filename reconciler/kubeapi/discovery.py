"""Discovery: /version, /api, /apis, each group/version's resource list, and health.

Part of `app.py`'s routes. kubectl reads these before anything else ("couldn't
get current server API group list" without them) and caches them. It asks /api and
/apis for the aggregated form first (apidiscovery.k8s.io/v2: every group, version
and resource in two answers) and falls back to the plain documents (then one
request per group/version) when the answer is not one; both are served.
/healthz, /livez and /readyz answer "ok" as the API server's do (tools probe them);
/readyz only once the store can be opened.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.kubeapi import status
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.resources import (
    Resource,
    api_resource,
    group_versions,
    in_group_version,
)

JSON = dict[str, Any]
# The media type of aggregated discovery, which clients recognize the answer by.
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
# The Kubernetes minor whose API this follows (the kubectl these machines carry).
KUBE_MAJOR, KUBE_MINOR = "1", "32"


def version_info(version: str) -> JSON:
    """/version: the Kubernetes version served, with reconciler's own in gitVersion."""
    return {"major": KUBE_MAJOR, "minor": KUBE_MINOR,
            "gitVersion": f"v{KUBE_MAJOR}.{KUBE_MINOR}.0+reconciler-{version}",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "python3", "compiler": "cpython", "platform": "linux/amd64"}


def api_versions(ctx: ApiContext) -> JSON:
    """/api: the core group's versions."""
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": ctx.address or "127.0.0.1"}]}


def api_group(group: str, versions: list[str]) -> JSON:
    """One APIGroup: its versions, the first preferred."""
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def api_group_list() -> JSON:
    """/apis: every group but the core one."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [api_group(g, vs) for g, vs in group_versions().items()]}


def resource_list(group: str, version: str) -> JSON | None:
    """/api/v1 or /apis/<group>/<version>: its resources and subresources; None if unknown."""
    found = in_group_version(group, version)
    if not found:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [entry for r in found for entry in api_resource(r)]}


def wants_aggregated(accept: str) -> bool:
    """Whether the Accept header asks for apidiscovery.k8s.io/v2 (kubectl 1.30+ does first)."""
    for part in accept.lower().replace(" ", "").split(","):
        params = set(part.split(";")[1:])
        if {"g=apidiscovery.k8s.io", "v=v2", "as=apigroupdiscoverylist"} <= params:
            return True
    return False


def _kind(group: str, version: str, kind: str) -> JSON:
    return {"group": group, "version": version, "kind": kind}


def _resource_discovery(r: Resource) -> JSON:
    main, *subs = api_resource(r)
    out: JSON = {"resource": r.plural, "responseKind": _kind(r.group, r.version, r.kind),
                 "scope": "Namespaced" if r.namespaced else "Cluster",
                 "singularResource": r.singular, "verbs": list(r.verbs)}
    for key in ("shortNames", "categories"):
        if key in main:
            out[key] = main[key]
    if subs:
        out["subresources"] = [{
            "subresource": str(sub["name"]).split("/", 1)[1],
            "responseKind": _kind(str(sub.get("group", r.group)),
                                  str(sub.get("version", r.version)), str(sub["kind"])),
            "verbs": sub["verbs"]} for sub in subs]
    return out


def aggregated(core: bool) -> JSON:
    """The APIGroupDiscoveryList of /api (core) or /apis: every resource in one answer."""
    groups = {"": ["v1"]} if core else group_versions()
    items = [{"metadata": {"name": g}, "versions": [
        {"version": v, "freshness": "Current",
         "resources": [_resource_discovery(r) for r in in_group_version(g, v)]}
        for v in versions]} for g, versions in groups.items()]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def routes(ctx: ApiContext, version: str) -> list[BaseRoute]:
    """The discovery routes (GET only)."""

    async def get_version(request: Request) -> Response:
        return JSONResponse(version_info(version))

    async def get_api(request: Request) -> Response:
        if wants_aggregated(request.headers.get("accept", "")):
            return JSONResponse(aggregated(core=True), media_type=AGGREGATED)
        return JSONResponse(api_versions(ctx))

    async def get_apis(request: Request) -> Response:
        if wants_aggregated(request.headers.get("accept", "")):
            return JSONResponse(aggregated(core=False), media_type=AGGREGATED)
        return JSONResponse(api_group_list())

    async def get_group(request: Request) -> Response:
        versions = group_versions().get(request.path_params["group"])
        if not versions:
            return status.no_such_path(request.url.path)
        return JSONResponse({"kind": "APIGroup", "apiVersion": "v1",
                             **api_group(request.path_params["group"], versions)})

    async def get_resources(request: Request) -> Response:
        found = resource_list(request.path_params.get("group", ""),
                              request.path_params["version"])
        if found is None:
            return status.no_such_path(request.url.path)
        return JSONResponse(found)

    async def get_health(request: Request) -> Response:
        # /readyz answers whether the store can be read: what every request needs.
        if request.url.path == "/readyz":
            try:
                await run_in_threadpool(lambda: ctx.open_store().close())
            except Exception as exc:  # any failure is "not ready", and says why
                return PlainTextResponse(f"store: {exc}\n", status_code=500)
        return PlainTextResponse("ok")

    return [
        Route("/healthz", get_health, methods=["GET"]),
        Route("/livez", get_health, methods=["GET"]),
        Route("/readyz", get_health, methods=["GET"]),
        Route("/version", get_version, methods=["GET"]),
        Route("/api", get_api, methods=["GET"]),
        Route("/apis", get_apis, methods=["GET"]),
        Route("/api/{version}", get_resources, methods=["GET"]),
        Route("/apis/{group}", get_group, methods=["GET"]),
        Route("/apis/{group}/{version}", get_resources, methods=["GET"]),
    ]
