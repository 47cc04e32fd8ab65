"""A counting unix-socket proxy in front of a Docker engine: every API request, timestamped.

Used by the steady-state benchmark: the service is pointed at this socket
(DOCKER_HOST) and every request line it sends passes through here, so the
Docker calls of a resync pass are counted from the outside, without trusting
the service's own bookkeeping. Bytes are relayed untouched in both directions;
request lines are recognised at the start of each client segment and after a
blank line, which holds for the Docker SDK's small JSON bodies.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

REQUEST = re.compile(
    rb"(?:^|\r\n)(GET|POST|PUT|DELETE|HEAD) (/[^ ?\r\n]*)(?:\?([^ \r\n]*))?[^\r\n]*"
    rb" HTTP/1\.[01]\r\n")
VERSION = re.compile(r"^/v1\.\d+")


@dataclass(frozen=True)
class Call:
    """One request the engine received: when (monotonic seconds), method, path and query
    (the query names what a create makes: `name=<prefix>_POD_<pod>_...`)."""

    at: float
    method: str
    path: str
    query: str = ""

    @property
    def op(self) -> str:
        """"GET /containers/json"; a container id in the path becomes {id}."""
        parts = [("{id}" if len(p) >= 32 and all(c in "0123456789abcdef" for c in p) else p)
                 for p in self.path.split("/")]
        return f"{self.method} {'/'.join(parts)}"


def parse_requests(data: bytes, at: float) -> list[Call]:
    """The request lines in one chunk of client bytes."""
    return [Call(at, m.group(1).decode(), VERSION.sub("", m.group(2).decode()),
                 unquote((m.group(3) or b"").decode(errors="replace")))
            for m in REQUEST.finditer(data)]


def ops(calls: list[Call]) -> Counter[str]:
    return Counter(c.op for c in calls)


class CountingProxy:
    """Listens on `path`, relays to the engine at `upstream`, records every request."""

    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.path = path
        self.upstream = upstream
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._closed = threading.Event()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> CountingProxy:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server.bind(str(self.path))
        self._server.listen(256)
        threading.Thread(target=self._accept, name="countproxy", daemon=True).start()
        return self

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()

    def since(self, t: float, until: float | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.at >= t and (until is None or c.at < until)]

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(self.upstream)
            except OSError:
                conn.close()
                continue
            threading.Thread(target=self._pump, args=(conn, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, conn, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if count:
                    found = parse_requests(data, time.monotonic())
                    if found:
                        with self._lock:
                            self.calls.extend(found)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                src.close()
