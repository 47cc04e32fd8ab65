"""The API's ASGI application: discovery, list and get of every resource, from the store.

Built by `create_app(ctx)` for `server.py` (a thread of `reconciler run`, or
`reconciler api` alone). Routes come from every module of the package that has
`routes(ctx)` (reviews, logs, writes, openapi: imported when the app is built, as
they import this one), placed before this module's own: Starlette takes the
first route matching path and method, so a module's GET of `pods/{name}/log` or
PUT of `deployments/{name}` wins over the generic handlers here, which answer
GET and refuse any other method with a 405 Status. Middleware (authentication)
comes from `auth.middleware(ctx)`. Store reads run in the thread pool: the
event loop keeps serving watches meanwhile.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler import __version__
from reconciler.kubeapi import discovery, objects, paging, selectors, status, tables
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.resources import Resource, resource_for
from reconciler.store.schema_head import StoreMissing

JSON = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]
# Modules gathered when present (each with `routes(ctx)`), in this order.
ROUTE_MODULES = ("reviews", "logs", "writes", "openapi")  # exact paths before patterns
CORE, GROUPS = "/api/{version}", "/apis/{group}/{version}"
# The resource paths, most specific first; writes.py registers its methods on the same.
RESOURCE_PATHS = tuple(
    base + tail for base in (CORE, GROUPS) for tail in (
        "/namespaces/{namespace}/{plural}/{name}/{subresource}",
        "/namespaces/{namespace}/{plural}/{name}",
        "/namespaces/{namespace}/{plural}",
        "/{plural}/{name}/{subresource}",
        "/{plural}/{name}",
        "/{plural}",
    )
)
OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


class Target:
    """What a resource path names: the resource, and namespace, name, subresource if any."""

    def __init__(self, resource: Resource, namespace: str | None, name: str | None,
                 subresource: str | None) -> None:
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.subresource = subresource


def target(request: Request) -> Target | Response:
    """The `Target` of a resource path, or the 404 Status of one that names none."""
    p = request.path_params
    group, version = p.get("group", ""), p["version"]
    plural, namespace = p["plural"], p.get("namespace")
    name, sub = p.get("name"), p.get("subresource")
    if namespace is not None and name is None and not group and resource_for("", version,
                                                                                plural) is None:
        # /api/v1/namespaces/{name}/status (or finalize): a namespace's subresource.
        plural, name, sub, namespace = "namespaces", namespace, plural, None
    resource = resource_for(group, version, plural)
    if resource is None or (namespace is not None and not resource.namespaced):
        return status.no_such_path(request.url.path)
    if sub is not None and sub not in resource.subresources:
        return status.no_such_path(request.url.path)
    return Target(resource, namespace, name, sub)


def _int_param(request: Request, key: str) -> int:
    text = request.query_params.get(key, "") or "0"
    if not text.isdigit():
        raise ValueError(f"invalid value for {key}: {text!r}")
    return int(text)


def _read(ctx: ApiContext) -> Handler:
    """GET of any resource path: a list (or watch) without a name, else one object."""
    snapshots = paging.Snapshots()

    async def handle(request: Request) -> Response:
        t = target(request)
        if isinstance(t, Response):
            return t
        if t.name is not None:
            return await _get(ctx, t, request)
        q = request.query_params
        if q.get("watch", "").lower() in ("1", "true"):
            return await _watch(ctx, t, request)
        try:
            labels = selectors.label_predicate(q.get("labelSelector"))
            fields = selectors.field_predicate(t.resource, q.get("fieldSelector"))
            limit = _int_param(request, "limit")
            token = paging.decode(q.get("continue", ""))
            # The next pages of a paged list are slices of its first page's snapshot.
            kept = snapshots.get(token)
            if kept is not None:
                found, rv = kept
            else:
                # `kubectl get pod x -w` lists with metadata.name=x: load that one alone.
                name = selectors.name_from_fields(t.resource, q.get("fieldSelector"))
                found, rv = await run_in_threadpool(partial(
                    objects.entries, ctx, t.resource, t.namespace, labels, name=name))
                if fields is not None:
                    found = [e for e in found if fields(e.obj)]
            page, cont, remaining = snapshots.page(found, limit, token, rv,
                                                   request.url.path)
        except ValueError as exc:
            return status.bad_request(str(exc))
        except StoreMissing as exc:
            return status.status_response(503, "ServiceUnavailable", str(exc))
        stale = any(e.row.stale for e in found)
        return _render_list(request, t.resource, page, rv, cont, remaining, stale)

    return handle


def _render_list(request: Request, resource: Resource, page: list[objects.Entry], rv: str,
                 cont: str, remaining: int, stale: bool) -> Response:
    accept = request.headers.get("accept", "")
    if tables.wants_table(accept):
        return JSONResponse(tables.table(
            resource, page, rv, include=request.query_params.get("includeObject", "Metadata"),
            api_version=tables.table_version(accept), cont=cont, remaining=remaining,
            stale=stale))
    meta: JSON = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
        meta["remainingItemCount"] = remaining
    return JSONResponse({"kind": f"{resource.kind}List", "apiVersion": resource.group_version,
                         "metadata": meta, "items": [e.obj for e in page]})


async def _watch(ctx: ApiContext, t: Target, request: Request) -> Response:
    from reconciler.kubeapi import watch

    response: Response = await watch.watch_response(ctx, t.resource, t.namespace, request)
    return response


async def _get(ctx: ApiContext, t: Target, request: Request) -> Response:
    assert t.name is not None
    try:
        hit, rv = await run_in_threadpool(partial(objects.entries, ctx, t.resource,
                                                  t.namespace, name=t.name))
    except StoreMissing as exc:
        return status.status_response(503, "ServiceUnavailable", str(exc))
    if not hit:
        return status.not_found(t.resource, t.name)
    if t.subresource == "scale":
        return JSONResponse(objects.scale_of(hit[0].obj))
    if t.subresource not in (None, "status"):
        return status.method_not_allowed(
            f"{t.resource.plural}/{t.subresource} is not served by this server")
    accept = request.headers.get("accept", "")
    if tables.wants_table(accept):
        return JSONResponse(tables.table(
            t.resource, hit, rv, include=request.query_params.get("includeObject", "Metadata"),
            api_version=tables.table_version(accept), stale=hit[0].row.stale))
    return JSONResponse(hit[0].obj)


def _refuse(ctx: ApiContext) -> Handler:
    async def handle(request: Request) -> Response:
        t = target(request)
        if isinstance(t, Response):
            return t
        why = ("this API server is read-only (reconciler api): change the desired folder or "
               "git, or use the service's API" if ctx.read_only else
               f"{request.method} is not served for {t.resource.plural}")
        return status.method_not_allowed(why)

    return handle


async def _unknown(request: Request) -> Response:
    return status.no_such_path(request.url.path)


def gathered_routes(ctx: ApiContext) -> list[BaseRoute]:
    """The routes of the package's other modules (see the module docstring)."""
    found: list[BaseRoute] = []
    for name in ROUTE_MODULES:
        if name == "writes" and ctx.read_only:
            continue
        found += importlib.import_module(f"reconciler.kubeapi.{name}").routes(ctx)
    return found


def own_routes(ctx: ApiContext) -> list[BaseRoute]:
    """Discovery, then GET of every resource path, then a 405 for other methods."""
    found: list[BaseRoute] = discovery.routes(ctx, __version__)
    read = _read(ctx)
    found += [Route(path, read, methods=["GET"]) for path in RESOURCE_PATHS]
    found += [Route(path, _refuse(ctx), methods=OTHER_METHODS) for path in RESOURCE_PATHS]
    found.append(Route("/{path:path}", _unknown))
    return found


def middleware(ctx: ApiContext) -> list[Middleware]:
    """Authentication in front of every route (auth.py); never left out."""
    from reconciler.kubeapi import auth

    return auth.middleware(ctx)


def create_app(ctx: ApiContext) -> Starlette:
    """The Starlette application serving `ctx` (see the module docstring)."""
    return Starlette(routes=[*gathered_routes(ctx), *own_routes(ctx)],
                     middleware=middleware(ctx))
