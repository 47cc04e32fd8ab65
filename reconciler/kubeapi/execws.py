"""`kubectl exec` over WebSocket: the `pods/exec` subresource, run on the pod's host by Docker.

Part of the Kubernetes API front end; `logs.routes` puts `route` before the
405 answer that non-WebSocket requests (SPDY, the older protocol) still get.
kubectl 1.30+ speaks the `v5.channel.k8s.io` protocol: every binary message
starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 the final Status,
4 terminal resize) and `[255, 0]` closes stdin. The pod's container is found
as `reconciler exec` finds it (`reconciler.kubeapi.logs.locate`); Docker's exec
socket is read in a thread of its own (its frames demultiplexed when there is no
tty) and written from the event loop's executor. The last message is the Status
on channel 3: Success, or NonZeroExitCode with the code, which kubectl exits with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from reconciler.kubeapi.certs import READ_WRITE
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.status import status_object

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The channel-3 Status of a finished command, as the kubelet words it."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"{command}, exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


class DockerExec:
    """One command started in a container, with its raw socket."""

    def __init__(self, engine: Any, cid: str, command: list[str], *, stdin: bool,
                 tty: bool) -> None:
        self.api = engine.client.api
        self.engine = engine
        self.tty = tty
        self.id = self.api.exec_create(cid, command, stdin=stdin, tty=tty)["Id"]
        raw = self.api.exec_start(self.id, socket=True, tty=tty)
        self.io = raw
        self.sock: socket.socket = getattr(raw, "_sock", raw)

    def frames(self) -> Any:
        """(stream, bytes) until the command's output ends (stream 1 for a tty)."""
        from docker.utils import socket as frames

        reader: Any = frames.frames_iter
        return reader(self.io, self.tty)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(Exception):
            self.api.exec_resize(self.id, height=height, width=width)

    def exit_code(self) -> int:
        code = self.api.exec_inspect(self.id).get("ExitCode")
        return int(code) if code is not None else -1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sock.close()
        with contextlib.suppress(Exception):
            self.engine.close()


def _start(ctx: ApiContext, namespace: str, name: str, container: str | None,
           command: list[str], stdin: bool, tty: bool) -> DockerExec:
    from reconciler.kubeapi.logs import locate
    from reconciler.runtime.access import PodAccess
    from reconciler.runtime.engine import Engine
    from reconciler.runtime.types import RuntimeConfig

    node, uid, chosen = locate(ctx, namespace, name, container)
    engine = Engine(node, RuntimeConfig(api_timeout=30.0))
    try:
        cid = PodAccess(engine).container_id(uid, chosen)
        return DockerExec(engine, cid, command, stdin=stdin, tty=tty)
    except BaseException:
        engine.close()
        raise


async def _pump_output(ws: WebSocket, run: DockerExec) -> None:
    """Copy the command's output to the client until it ends (a thread reads the socket)."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def read() -> None:
        try:
            for stream, data in run.frames():
                channel = STDERR if stream == 2 else STDOUT
                asyncio.run_coroutine_threadsafe(
                    ws.send_bytes(bytes([channel]) + bytes(data)), loop).result()
        except Exception:  # the socket closed under us: the command's end is what counts
            pass
        finally:
            loop.call_soon_threadsafe(done.set)

    threading.Thread(target=read, name="kubeapi exec", daemon=True).start()
    await done.wait()


async def _pump_input(ws: WebSocket, run: DockerExec) -> None:
    """The client's stdin, stdin close and resizes, until it goes away."""
    while True:
        try:
            message = await ws.receive_bytes()
        except (WebSocketDisconnect, KeyError, RuntimeError):
            return
        if not message:
            continue
        channel, data = message[0], message[1:]
        if channel == STDIN and data:
            await asyncio.to_thread(run.write, data)
        elif channel == CLOSE and data[:1] == bytes([STDIN]):
            run.close_stdin()
        elif channel == RESIZE:
            with contextlib.suppress(ValueError, TypeError):
                size = json.loads(data)
                run.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))


async def exec_endpoint(ctx: ApiContext, ws: WebSocket) -> None:
    """The WebSocket of `pods/{name}/exec`."""
    from reconciler.kubeapi.logs import LogError

    offered = ws.scope.get("subprotocols") or []
    protocol = next((p for p in PROTOCOLS if p in offered), None)
    await ws.accept(subprotocol=protocol)
    params = ws.query_params
    command = params.getlist("command")
    # A WebSocket has no method for the auth middleware to judge: running a command is
    # a write (Kubernetes' `create pods/exec`), which the read-only role may not do.
    # No role (no auth middleware in front) is no permission either, and a read-only
    # server (`reconciler api`) runs nothing.
    state = ws.scope.get("state") or {}
    if state.get("role") != READ_WRITE or ctx.read_only:
        await _finish(ws, status_object(
            403, "Forbidden", f'User "{state.get("user", "")}" cannot create pods/exec: '
            "the read-only role may only read"))
        return
    flag = {"1", "true"}
    try:
        run = await asyncio.to_thread(
            _start, ctx, ws.path_params["namespace"], ws.path_params["name"],
            params.get("container"), command, params.get("stdin", "").lower() in flag,
            params.get("tty", "").lower() in flag)
    except LogError as e:
        await _finish(ws, status_object(e.code, e.reason, e.message, e.details))
        return
    except Exception as e:  # the host's refusal (no such command...), relayed
        await _finish(ws, status_object(500, "InternalError", f"exec: {e}"))
        return
    reader = asyncio.create_task(_pump_input(ws, run))
    try:
        await _pump_output(ws, run)
        code = await asyncio.to_thread(run.exit_code)
    finally:
        reader.cancel()
        run.close()
    await _finish(ws, exit_status(code, command))


async def _finish(ws: WebSocket, status: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        await ws.close()


def route(ctx: ApiContext) -> BaseRoute:
    """The exec WebSocket route of `ctx`."""
    async def endpoint(ws: WebSocket) -> None:
        await exec_endpoint(ctx, ws)
    return WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/exec", endpoint)
