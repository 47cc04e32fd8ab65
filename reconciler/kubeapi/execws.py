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
import logging
import secrets
import socket
import threading
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from reconciler.kubeapi.certs import READ_WRITE
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.status import status_object

log = logging.getLogger(__name__)
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


# Set in the command's environment so that it, and every process it starts, can be found
# and ended when the client goes away: Docker has no call that stops an exec.
MARKER = "RECONCILER_EXEC"
# Run as root in the container: ends every process whose environment carries the marker.
_KILL = ('for d in /proc/[0-9]*; do if tr "\\000" "\\n" < "$d/environ" 2>/dev/null '
         '| grep -qx "{marker}"; then kill -KILL "${{d#/proc/}}" 2>/dev/null; fi; done')


class DockerExec:
    """One command started in a container, with its raw socket."""

    def __init__(self, engine: Any, cid: str, command: list[str], *, stdin: bool,
                 tty: bool) -> None:
        self.api = engine.client.api
        self.engine = engine
        self.cid = cid
        self.tty = tty
        self.marker = f"{MARKER}={secrets.token_hex(8)}"
        self.id = self.api.exec_create(cid, command, stdin=stdin, tty=tty,
                                       environment=[self.marker])["Id"]
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

    def end(self) -> None:
        """The client went away: its streams closed (stdin at EOF, the output socket shut,
        which ends the reading thread) and the command ended if it still runs."""
        self.close_stdin()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        try:
            if not self.api.exec_inspect(self.id).get("Running"):
                return
            kill = self.api.exec_create(self.cid, ["sh", "-c", _KILL.format(
                marker=self.marker)], user="0")["Id"]
            self.api.exec_start(kill)
            if self.api.exec_inspect(self.id).get("Running"):
                log.warning("kubeapi exec: %s still runs after its client left (no sh, tr, "
                            "grep or kill in container %s?)", self.id[:12], self.cid[:12])
        except Exception as exc:  # the container is gone, or its host: nothing left to end
            log.warning("kubeapi exec: ending %s after its client left: %s", self.id[:12], exc)

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


async def _pump_output(ws: WebSocket, run: DockerExec) -> bool:
    """Copy the command's output to the client until it ends (a thread reads the socket);
    False when the client could no longer be sent to."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    sent = [True]

    def read() -> None:
        try:
            for stream, data in run.frames():
                channel = STDERR if stream == 2 else STDOUT
                try:
                    asyncio.run_coroutine_threadsafe(
                        ws.send_bytes(bytes([channel]) + bytes(data)), loop).result()
                except Exception:  # the client is gone
                    sent[0] = False
                    return
        except Exception:  # the socket closed under us: the command's end is what counts
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(done.set)

    threading.Thread(target=read, name="kubeapi exec", daemon=True).start()
    await done.wait()
    return sent[0]


async def _pump_input(ws: WebSocket, run: DockerExec) -> None:
    """The client's stdin, stdin close and resizes, until it goes away."""
    stdin_open = True
    while True:
        try:
            received = await ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if received.get("type") == "websocket.disconnect":
            return
        message = received.get("bytes")
        if not message:
            continue  # a text message: no channel of this protocol
        channel, data = message[0], message[1:]
        if channel == STDIN and data and stdin_open:
            try:
                await asyncio.to_thread(run.write, data)
            except OSError:
                # The command no longer reads (`head -c 10` exited, EPIPE): the rest of
                # the input is dropped, as a pipe drops it, and the client stays for the
                # output and the exit status.
                stdin_open = False
                run.close_stdin()
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
    output = asyncio.create_task(_pump_output(ws, run))
    try:
        await asyncio.wait({reader, output}, return_when=asyncio.FIRST_COMPLETED)
        if reader.done() or not output.result():
            # The client went away (the input ended first, or sending failed): nobody
            # waits for the command any more, which would otherwise run on, its socket
            # and this thread with it, until it ended by itself.
            await asyncio.to_thread(run.end)
            await output
            return
        code = await asyncio.to_thread(run.exit_code)
    finally:
        reader.cancel()
        reader.add_done_callback(_retrieve)
        run.close()
    await _finish(ws, exit_status(code, command))


def _retrieve(task: asyncio.Task[None]) -> None:
    """Log the input task's failure (asyncio would otherwise warn it was never retrieved)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("kubeapi exec: reading the client failed: %r", task.exception())


async def _finish(ws: WebSocket, status: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        await ws.close()


def route(ctx: ApiContext) -> BaseRoute:
    """The exec WebSocket route of `ctx`."""
    async def endpoint(ws: WebSocket) -> None:
        await exec_endpoint(ctx, ws)
    return WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/exec", endpoint)
