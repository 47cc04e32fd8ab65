"""Runs the dashboard (`reconciler.ui.app`) with uvicorn: in a thread of the service, or alone.

`start_ui_server` is what `reconciler run` calls (reconciler/service/app.py,
beside the metrics server); `serve_forever` is `reconciler ui`. The address is
"host:port" (port 0 picks a free one); the host is never widened: 127.0.0.1
unless the configuration says otherwise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import threading
import time

import uvicorn

from reconciler.ui.app import create_app

log = logging.getLogger("reconciler.ui")


def split_address(address: str) -> tuple[str, int]:
    """("127.0.0.1", 8080) from "127.0.0.1:8080"; a bare ":8080" stays on loopback."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def exposure_warning(address: str) -> str:
    """A warning when `address` is reachable from other machines; "" on loopback."""
    host, _ = split_address(address)
    try:
        if ipaddress.ip_address(host).is_loopback:
            return ""
    except ValueError:
        if host == "localhost":
            return ""
    return (f"the dashboard listens on {address}, beyond loopback: it has no login, and "
            "anyone who reaches it reads the cluster's state")


def _config(state: str, address: str) -> uvicorn.Config:
    host, port = split_address(address)
    return uvicorn.Config(create_app(state, bound_host=host), host=host, port=port,
                          log_level="warning", access_log=False, lifespan="off",
                          server_header=False)


class UiServer:
    """A running dashboard; `close()` stops it and waits for its thread."""

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
    # uvicorn calls sys.exit when it cannot bind; in a thread that is only an ending, which
    # start_ui_server turns into an OSError for the caller.
    with contextlib.suppress(SystemExit):
        server.run()


def start_ui_server(address: str, state: str, timeout: float = 10.0) -> UiServer | None:
    """Serve the dashboard of `state` on `address` in a daemon thread; None when it is empty.

    Raises OSError when it cannot listen there (the port taken, say).
    """
    if not address:
        return None
    warning = exposure_warning(address)
    if warning:
        log.warning("%s", warning)
    server = uvicorn.Server(_config(state, address))
    # uvicorn installs no signal handlers outside the main thread: the service keeps its own.
    thread = threading.Thread(target=_run, args=(server,), name="ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(f"the dashboard cannot listen on {address}")
        time.sleep(0.02)
    return UiServer(server, thread)


def serve_forever(address: str, state: str) -> None:
    """`reconciler ui`: serve in the foreground until SIGINT or SIGTERM."""
    uvicorn.Server(_config(state, address)).run()
