"""Runs the dashboard (`reconciler.ui.app`) with uvicorn: in a thread of the service, or alone.

`start_ui_server` is what `reconciler run` calls (reconciler/service/app.py,
beside the metrics server); `serve_forever` is `reconciler ui`. The address is
"host:port" (port 0 picks a free one); the host is never widened: 127.0.0.1
unless the configuration says otherwise.
"""

from __future__ import annotations

import ipaddress
import logging

import uvicorn

from reconciler.serving import ServerThread as UiServer
from reconciler.serving import split_address, start_in_thread
from reconciler.ui.app import create_app

__all__ = ["UiServer", "exposure_warning", "serve_forever", "split_address", "start_ui_server"]

log = logging.getLogger("reconciler.ui")


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


def start_ui_server(address: str, state: str, timeout: float = 10.0) -> UiServer | None:
    """Serve the dashboard of `state` on `address` in a daemon thread; None when it is empty.

    Raises OSError when it cannot listen there (the port taken, say).
    """
    if not address:
        return None
    warning = exposure_warning(address)
    if warning:
        log.warning("%s", warning)
    return start_in_thread(_config(state, address), "ui", "the dashboard", timeout)


def serve_forever(address: str, state: str) -> None:
    """`reconciler ui`: serve in the foreground until SIGINT or SIGTERM."""
    uvicorn.Server(_config(state, address)).run()
