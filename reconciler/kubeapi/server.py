"""Runs the API (`app.create_app`) with uvicorn: in a thread of `reconciler run`, or alone.

`start_api_server` is what the service calls (reconciler/service/app.py, beside
the dashboard) when `[api] address` is set; `serve_forever` is the read-only
`reconciler api` command, for when the service is down. The address is
"host:port" (port 0 picks a free one), loopback unless configured otherwise.
Plain HTTP here; TLS and credentials are auth.py's and certs.py's.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from reconciler.kubeapi.app import create_app
from reconciler.kubeapi.context import ApiContext
from reconciler.serving import ServerThread as ApiServer
from reconciler.serving import split_address, start_in_thread

__all__ = ["ApiServer", "serve_forever", "split_address", "start_api_server", "uvicorn_config"]

log = logging.getLogger("reconciler.kubeapi")


def uvicorn_config(ctx: ApiContext, address: str, **extra: Any) -> uvicorn.Config:
    """The uvicorn settings of one API server; `extra` (TLS files, say) passes through."""
    host, port = split_address(address)
    ctx.address = address
    return uvicorn.Config(create_app(ctx), host=host, port=port, log_level="warning",
                          access_log=False, lifespan="off", server_header=False, **extra)


def start_api_server(ctx: ApiContext, address: str, timeout: float = 10.0,
                     **extra: Any) -> ApiServer | None:
    """Serve `ctx` on `address` in a daemon thread; None when the address is empty.

    Raises OSError when it cannot listen there (the port taken, say).
    """
    if not address:
        return None
    running = start_in_thread(uvicorn_config(ctx, address, **extra), "kubeapi",
                              "the Kubernetes API", timeout)
    ctx.address = running.address
    return running


def serve_forever(ctx: ApiContext, address: str, **extra: Any) -> None:
    """`reconciler api`: serve in the foreground until SIGINT or SIGTERM."""
    uvicorn.Server(uvicorn_config(ctx, address, **extra)).run()
