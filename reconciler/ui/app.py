"""The dashboard's ASGI application: Starlette routes over `reconciler.ui.pages`, read-only.

Served by `reconciler.ui.server` (inside `reconciler run`, or alone by
`reconciler ui`). HTML pages are Jinja2 templates; a page asked for with the
`X-UI-Fragment` header returns only its live part, which static/ui.js polls
and swaps in place. `/api/...` returns what `reconciler get -o json` prints.
Every method but GET and HEAD is refused with 405: changes go through the
folder or git, never through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.ui import pages, viewmodels
from reconciler.views import hosts, output
from reconciler.views.listings import LISTINGS

HERE = Path(__file__).parent
FRAGMENT_HEADER = "x-ui-fragment"
# No inline script or style can run: a name or message that slipped past escaping
# still could not execute. Everything is served from this origin.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class ReadOnly:
    """ASGI middleware: 405 for anything but GET and HEAD, security headers on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse(
                "read-only: change the desired folder or git instead\n", status_code=405,
                headers={"allow": "GET, HEAD", **SECURITY_HEADERS})
            await response(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class HostGuard:
    """ASGI middleware: 403 for a Host header that is not ours (hosts.py: DNS rebinding)."""

    def __init__(self, app: ASGIApp, names: frozenset[str]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope.get("headers", [])
                         if k == b"host"), "")
            if not hosts.host_allowed(host, self.names):
                response = PlainTextResponse(
                    "unknown Host: open the dashboard by its address or localhost\n",
                    status_code=403, headers=SECURITY_HEADERS)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(state: str, *, interval_ms: int = 1500, bound_host: str = "127.0.0.1") -> Starlette:
    """The dashboard of the store at `state` (a SQLite path or SQLAlchemy URL), answering
    Host headers of `bound_host` (where it listens) and loopback names only."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    templates = Jinja2Templates(env=env)
    # The navigation offers what `reconciler get` can list here.
    known = {lst.resource for lst in LISTINGS.values()}
    nav = {k: v for k, v in viewmodels.PAGES.items() if k in known}
    templates.env.globals.update(pages=nav, interval_ms=interval_ms,
                                 age=output.age, href=viewmodels.href)

    def filters(request: Request) -> pages.Filter:
        q = request.query_params
        return pages.Filter(q.get("namespace", "").strip(), q.get("selector", "").strip())

    def render(request: Request, template: str, ctx: dict[str, Any], f: pages.Filter,
               store: Any, status: int = 200) -> Response:
        ctx = {**ctx, "filter": f, "fragment": FRAGMENT_HEADER in request.headers,
               "namespaces": pages.known_namespaces(store), "path": request.url.path}
        response: Response = templates.TemplateResponse(request, template, ctx,
                                                        status_code=status)
        return response

    def page(request: Request, template: str, build: Any) -> Response:
        f = filters(request)
        with pages.reading(state) as store:
            try:
                return render(request, template, build(store, f), f, store)
            except pages.SelectorError as exc:
                return render(request, "error.html", {"error": f"selector: {exc}"}, f, store, 400)
            except pages.NotFound as exc:
                return render(request, "error.html", {"error": str(exc)}, f, store, 404)

    def overview(request: Request) -> Response:
        return page(request, "overview.html", pages.overview)

    def list_page(request: Request) -> Response:
        resource = request.path_params["resource"]
        return page(request, "list.html",
                    lambda store, f: pages.list_page(store, resource, f))

    def detail(request: Request) -> Response:
        p = request.path_params
        return page(request, "detail.html", lambda store, f: pages.detail(
            store, p["resource"], p.get("namespace", ""), p["name"]))

    def api(request: Request) -> Response:
        p = request.path_params
        try:
            with pages.reading(state) as store:
                if "name" in p:
                    body = pages.api_object(store, p["resource"], p.get("namespace", ""),
                                            p["name"])
                else:
                    body = pages.api_list(store, p["resource"], filters(request))
        except pages.NotFound as exc:
            return JSONResponse(_status(404, "NotFound", str(exc)), status_code=404)
        except pages.SelectorError as exc:
            return JSONResponse(_status(400, "BadRequest", str(exc)), status_code=400)
        return JSONResponse(body)

    def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def favicon(request: Request) -> Response:
        # Browsers ask for it on every page, JSON ones too; a 404 each time is only noise.
        return Response(status_code=204)

    routes = [
        Route("/", overview),
        Route("/healthz", healthz),
        Route("/favicon.ico", favicon),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        Route("/api/{resource}", api),
        Route("/api/{resource}/{name}", api),
        Route("/api/{resource}/{namespace}/{name}", api),
        Route("/{resource}", list_page),
        Route("/{resource}/{name}", detail),
        Route("/{resource}/{namespace}/{name}", detail),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(ReadOnly)
    # Added last, so it runs first: a foreign Host learns nothing, not even the methods.
    app.add_middleware(HostGuard, names=hosts.allowed_names(bound_host))
    return app


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    """Kubernetes' Status object, as the API server answers an error."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
