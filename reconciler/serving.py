"""An ASGI app served by uvicorn in a daemon thread: the dashboard's and the Kubernetes API's.

Both front ends (reconciler/ui/server.py, reconciler/kubeapi/server.py) run in a
thread of `reconciler run` beside the control loop, and may not import each
other (the layers contract), so the thread, the wait for the socket and the stop
live here, below both. uvicorn installs no signal handlers outside the main
thread: the service keeps its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import uvicorn


def split_address(address: str) -> tuple[str, int]:
    """("127.0.0.1", 8080) from "127.0.0.1:8080"; a bare ":8080" stays on loopback."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return (host.strip("[]") or "127.0.0.1"), int(port)


TICK = 1.0  # seconds between two looks at `should_exit` (uvicorn's own: 0.1)


class _Server(uvicorn.Server):
    """uvicorn's server, its loop woken once a second instead of ten times.

    The tick only refreshes the Date header (once a second either way) and notices
    `should_exit`: ten wake-ups a second of an idle dashboard were a visible share of
    an idle service's CPU; a stop is now noticed within `TICK`.
    """

    async def main_loop(self) -> None:
        counter = 0  # uvicorn refreshes the Date header when counter % 10 == 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000
            await asyncio.sleep(TICK)
            should_exit = await self.on_tick(counter)


class ServerThread:
    """A running server; `close()` stops it and waits for its thread."""

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
    # start_in_thread turns into an OSError for the caller.
    with contextlib.suppress(SystemExit):
        server.run()


def start_in_thread(config: uvicorn.Config, name: str, what: str,
                    timeout: float = 10.0) -> ServerThread:
    """Serve `config` in a daemon thread called `name`, once it listens.

    Raises OSError naming `what` when it cannot listen (the port taken, say).
    """
    server = _Server(config)
    thread = threading.Thread(target=_run, args=(server,), name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(f"{what} cannot listen on {config.host}:{config.port}")
        time.sleep(0.02)
    return ServerThread(server, thread)
