"""Runs the API (`app.create_app`) with uvicorn: in a thread of `reconciler run`, or alone.

`start_api_server` is what the service calls (reconciler/service/app.py, beside
the dashboard) when `[api] address` is set; `serve_forever` is the read-only
`reconciler api` command, for when the service is down. The address is
"host:port" (port 0 picks a free one), loopback unless configured otherwise.
Plain HTTP here; TLS and credentials are auth.py's and certs.py's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import uvicorn

from reconciler.kubeapi.app import create_app
from reconciler.kubeapi.context import ApiContext

log = logging.getLogger("reconciler.kubeapi")


def split_address(address: str) -> tuple[str, int]:
    """("127.0.0.1", 6443) from "127.0.0.1:6443"; a bare ":6443" stays on loopback."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def uvicorn_config(ctx: ApiContext, address: str, **extra: Any) -> uvicorn.Config:
    """The uvicorn settings of one API server; `extra` (TLS files, say) passes through."""
    host, port = split_address(address)
    ctx.address = address
    return uvicorn.Config(create_app(ctx), host=host, port=port, log_level="warning",
                          access_log=False, lifespan="off", server_header=False, **extra)


class ApiServer:
    """A running API server; `close()` stops it and waits for its thread."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def address(self) -> str:
        """The bound "host:port" (the real port when 0 was asked for)."""
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return f"{host}:{port}"

    def close(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def _run(server: uvicorn.Server) -> None:
    # uvicorn calls sys.exit when it cannot bind; in a thread that only ends it, which
    # start_api_server turns into an OSError for the caller.
    with contextlib.suppress(SystemExit):
        server.run()


def start_api_server(ctx: ApiContext, address: str, timeout: float = 10.0,
                     **extra: Any) -> ApiServer | None:
    """Serve `ctx` on `address` in a daemon thread; None when the address is empty.

    Raises OSError when it cannot listen there (the port taken, say).
    """
    if not address:
        return None
    server = uvicorn.Server(uvicorn_config(ctx, address, **extra))
    thread = threading.Thread(target=_run, args=(server,), name="kubeapi", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(f"the Kubernetes API cannot listen on {address}")
        time.sleep(0.02)
    running = ApiServer(server, thread)
    ctx.address = running.address
    return running


def serve_forever(ctx: ApiContext, address: str, **extra: Any) -> None:
    """`reconciler api`: serve in the foreground until SIGINT or SIGTERM."""
    uvicorn.Server(uvicorn_config(ctx, address, **extra)).run()
