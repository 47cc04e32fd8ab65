"""The `pods/log` subresource, streamed from the pod's host; `attach` and `portforward`
answered with a 405 Status naming `reconciler exec` (`exec` over WebSocket: execws.py).

Part of the Kubernetes API front end (`reconciler.kubeapi.app` gathers `routes`).
The pod and its node come from the store (`reconciler.store.reader`), as
`reconciler logs` finds them (reconciler/cli/podio.py); its container is then
found by label on that node's engine (`reconciler.runtime.access.PodAccess`) and
Docker's log stream is copied to the client. A follow runs in a thread of its own,
never in the server's shared thread pool: a `kubectl logs -f` may wait for hours,
and forty of them would otherwise starve every other request. When the client goes
away, the Docker stream is closed, which ends that thread's blocking read.

The messages of errors are the API server's and kubelet's own, so kubectl prints
what it prints against a real cluster.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from reconciler.api.records import NodeRecord
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.status import status_response

_END = object()  # the pump thread's "the stream ended"
_PUT_RETRY = 1.0  # seconds a pump thread waits on a full queue before checking for a close


class LogError(Exception):
    """A log request that cannot be served: the Status it answers with."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true")


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise LogError(400, "BadRequest", f"{name}: invalid value {raw!r}") from None
    if value < 0 or (name in ("sinceSeconds", "limitBytes") and value == 0):
        raise LogError(422, "Invalid", f"{name}: must be greater than 0")
    return value


def since_unix(since_seconds: int | None, since_time: str | None,
               now: float | None = None) -> int | None:
    """The Unix time a log starts at, from `sinceSeconds` or `sinceTime` (RFC 3339)."""
    if since_seconds is not None and since_time:
        raise LogError(422, "Invalid", "at most one of sinceTime or sinceSeconds may be specified")
    if since_seconds is not None:
        return int((time.time() if now is None else now) - since_seconds)
    if since_time:
        try:
            return int(datetime.fromisoformat(since_time.replace("Z", "+00:00")).timestamp())
        except ValueError:
            raise LogError(400, "BadRequest", f"sinceTime: invalid value {since_time!r}") from None
    return None


def pick_container(pod_name: str, spec: dict[str, Any], asked: str | None) -> str:
    """The container a log request reads: the one asked for, or the pod's only one."""
    names = [str(c.get("name", "")) for c in spec.get("containers", [])]
    every = [str(c.get("name", "")) for c in spec.get("initContainers", [])] + names
    if asked:
        if asked not in every:
            raise LogError(400, "BadRequest", f"container {asked} is not valid for pod {pod_name}")
        return asked
    if len(names) == 1:
        return names[0]
    raise LogError(400, "BadRequest", f"a container name must be specified for pod {pod_name}, "
                   f"choose one of: [{' '.join(names)}]")


def locate(ctx: ApiContext, namespace: str, name: str, container: str | None
           ) -> tuple[NodeRecord, str, str]:
    """(the pod's node, its uid, the container asked for or its only one); LogError if none."""
    from reconciler.store.opener import open_reader

    store = open_reader(ctx.state)
    try:
        pod = store.get_pod(namespace, name)
        node = store.get_node(pod.node_name) if pod is not None and pod.node_name else None
    finally:
        store.close()
    if pod is None:
        raise LogError(404, "NotFound", f'pods "{name}" not found',
                       {"name": name, "kind": "pods"})
    chosen = pick_container(name, pod.spec, container)
    if node is None:
        raise LogError(400, "BadRequest", f"pod {name} does not have a host assigned")
    return node, pod.uid, chosen


def _open(ctx: ApiContext, namespace: str, name: str, request: Request
          ) -> tuple[Iterator[bytes], Callable[[], None]]:
    """Docker's log stream of the pod's container and the call that closes it."""
    from reconciler.runtime.types import HostUnreachable

    follow, previous = _flag(request, "follow"), _flag(request, "previous")
    tail = _int(request, "tailLines")
    start = since_unix(_int(request, "sinceSeconds"), request.query_params.get("sinceTime"))
    node, uid, container = locate(ctx, namespace, name, request.query_params.get("container"))
    try:
        return _docker_logs(node, uid, container, previous=previous, follow=follow,
                            tail=tail, since=start, timestamps=_flag(request, "timestamps"))
    except LookupError:
        if previous:
            raise LogError(400, "BadRequest", f'previous terminated container "{container}" '
                           f'in pod "{name}" not found') from None
        raise LogError(400, "BadRequest", f'container "{container}" in pod "{name}" is '
                       "waiting to start: ContainerCreating") from None
    except HostUnreachable as e:
        raise LogError(503, "ServiceUnavailable", f"the host of pod {name} did not answer: "
                       f"{e.reason}") from None
    except Exception as e:  # docker's APIError, requests' errors: the host's answer, relayed
        raise LogError(500, "InternalError", f"logs of pod {name}: {e}") from None


def _docker_logs(node: NodeRecord, uid: str, container: str, *, previous: bool, follow: bool,
                 tail: int | None, since: int | None, timestamps: bool
                 ) -> tuple[Iterator[bytes], Callable[[], None]]:
    """The log stream of a pod's container on its node's engine (`PodAccess.open_logs`, as
    the CLI reads it), and what closes it all."""
    from reconciler.runtime.access import PodAccess
    from reconciler.runtime.engine import Engine
    from reconciler.runtime.types import RuntimeConfig

    engine = Engine(node, RuntimeConfig(api_timeout=30.0))
    try:
        chunks, close_stream = PodAccess(engine).open_logs(
            uid, container, follow=follow, tail=tail, previous=previous, since=since,
            timestamps=timestamps)
    except BaseException:
        engine.close()
        raise

    def close() -> None:  # the stream's response, then the engine's connection pool
        close_stream()
        with contextlib.suppress(Exception):
            engine.close()

    return chunks, close


async def relay(chunks: Iterator[bytes], close: Callable[[], None],
                limit: int | None = None) -> AsyncIterator[bytes]:
    """The chunks of a blocking iterator, read in a thread of their own; at most `limit` bytes.

    Ending early (the client left, or the limit) closes the source, which ends the
    thread's blocking read.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=64)
    closed = threading.Event()

    def put(item: object) -> bool:
        if closed.is_set():
            return False
        coro = queue.put(item)
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop is closed: nobody reads any more
            coro.close()
            return False
        while True:
            try:
                future.result(_PUT_RETRY)
                return True
            except concurrent.futures.TimeoutError:
                if closed.is_set():  # a full queue nobody reads any more
                    future.cancel()
                    return False
            except (concurrent.futures.CancelledError, RuntimeError):
                return False

    def pump() -> None:
        try:
            for chunk in chunks:
                if closed.is_set() or not put(bytes(chunk)):
                    return
        except Exception as e:  # a broken stream ends the response; closed ones are expected
            if not closed.is_set():
                put(e)
            return
        put(_END)

    threading.Thread(target=pump, name="kubeapi logs", daemon=True).start()
    sent = 0
    try:
        while True:
            item = await queue.get()
            if item is _END or isinstance(item, Exception):
                return
            assert isinstance(item, bytes)
            if limit is not None and sent + len(item) >= limit:
                yield item[:limit - sent]
                return
            sent += len(item)
            yield item
    finally:
        closed.set()
        close()


def _pod_log(ctx: ApiContext) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        """GET /api/v1/namespaces/{namespace}/pods/{name}/log."""
        namespace = request.path_params["namespace"]
        name = request.path_params["name"]
        try:
            limit = _int(request, "limitBytes")
            chunks, close = await asyncio.to_thread(_open, ctx, namespace, name, request)
        except LogError as e:
            return status_response(e.code, e.reason, e.message, e.details)
        return StreamingResponse(relay(chunks, close, limit), media_type="text/plain")
    return endpoint


def _not_served(what: str) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        namespace = request.path_params["namespace"]
        hint = (f"reconciler exec -n {namespace} {name} -- COMMAND" if what != "portforward"
                else f"a Service with a nodePort, or reconciler exec -n {namespace} {name}")
        served = ("is served over WebSocket only (kubectl 1.30 or later)" if what == "exec"
                  else "is not served by reconciler's Kubernetes API")
        return status_response(405, "MethodNotAllowed", f"pods/{what} {served}; use: {hint}",
                               {"name": name, "kind": f"pods/{what}"})
    return endpoint


def routes(ctx: ApiContext) -> list[BaseRoute]:
    """The log route and the 405 answers of exec, attach and port-forward."""
    from reconciler.kubeapi.execws import route as exec_route

    base = "/api/v1/namespaces/{namespace}/pods/{name}"
    # exec over WebSocket first; the SPDY protocol (plain HTTP upgrades) gets the 405 below.
    found: list[BaseRoute] = [Route(f"{base}/log", _pod_log(ctx), methods=["GET"]),
                              exec_route(ctx)]
    for what in ("exec", "attach", "portforward"):
        found.append(Route(f"{base}/{what}", _not_served(what), methods=["GET", "POST"]))
    return found
