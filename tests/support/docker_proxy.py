"""A counting proxy in front of the Docker engine's unix socket, for fault tests.

A test points a service at `unix://<proxy.path>` (DOCKER_HOST) and the proxy
forwards every byte to the real engine socket, parsing the client's side as
HTTP/1.1 (keep-alive, Content-Length and chunked bodies) so that it can record
each request line with the time and the pid of the process that sent it
(SO_PEERCRED). After a connection upgrade (attach, exec with a TTY) it only
forwards. `hold(pid)` withholds the engine's answers to one process until
`release(pid)`: its requests still go through, so its Docker calls all end up
waiting on an answer, a known point at which to stop the process.
tests/faults/test_paused_leader.py counts a paused leader's Docker actions
with it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass

ENGINE = "/var/run/docker.sock"
MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True)
class Request:
    """One request the proxy forwarded."""

    at: float  # time.monotonic() when its request line was read
    pid: int  # the client process (SO_PEERCRED)
    method: str
    path: str

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class _Stream:
    """Buffered reads from the client that are forwarded to the engine as they are consumed."""

    def __init__(self, client: socket.socket, engine: socket.socket) -> None:
        self.client = client
        self.engine = engine
        self.buf = b""

    def _fill(self) -> bool:
        data = self.client.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def line(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            if not self._fill():
                return None
        line, _, self.buf = self.buf.partition(b"\r\n")
        self.engine.sendall(line + b"\r\n")
        return line

    def forward(self, n: int) -> bool:
        while n > 0:
            if not self.buf and not self._fill():
                return False
            chunk, self.buf = self.buf[:n], self.buf[n:]
            self.engine.sendall(chunk)
            n -= len(chunk)
        return True


class DockerProxy:
    """Listens on `path`, forwards to the engine, records every request in `requests`."""

    def __init__(self, path: str, engine: str = ENGINE) -> None:
        self.path = path
        self.engine = engine
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        os.chmod(path, 0o600)
        self._server.listen(64)
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._held: dict[int, threading.Event] = {}
        threading.Thread(target=self._accept, name="docker-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def since(self, at: float, pid: int | None = None) -> list[Request]:
        """Requests read at or after monotonic time `at`, of one process if given."""
        with self._lock:
            return [r for r in self.requests if r.at >= at and (pid is None or r.pid == pid)]

    def hold(self, pid: int) -> None:
        """Withhold the engine's answers to process `pid` (its requests still pass)."""
        self._gate(pid).clear()

    def release(self, pid: int) -> None:
        """Deliver what was withheld from `pid`, and everything after it."""
        self._gate(pid).set()

    def _gate(self, pid: int) -> threading.Event:
        with self._lock:
            if pid not in self._held:
                self._held[pid] = threading.Event()
                self._held[pid].set()
            return self._held[pid]

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()
        for gate in list(self._held.values()):
            gate.set()
        for s in list(self._sockets):
            with contextlib.suppress(OSError):
                s.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            creds = client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid = struct.unpack("3i", creds)[0]
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.engine)
            self._sockets += [client, engine]
            threading.Thread(target=self._requests, args=(client, engine, pid), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(engine, client, self._gate(pid)), daemon=True
            ).start()

    def _requests(self, client: socket.socket, engine: socket.socket, pid: int) -> None:
        stream = _Stream(client, engine)
        try:
            while self._one(stream, pid):
                pass
            # Upgraded (or unparsable): bytes only from here on.
            if stream.buf:
                engine.sendall(stream.buf)
            self._pipe(client, engine)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                engine.shutdown(socket.SHUT_WR)

    def _one(self, stream: _Stream, pid: int) -> bool:
        """Forward one request; False at the end of the connection or after an upgrade."""
        line = stream.line()
        if not line:
            return False
        parts = line.decode("latin-1").split(" ")
        if len(parts) >= 2:
            with self._lock:
                self.requests.append(Request(time.monotonic(), pid, parts[0], parts[1]))
        headers: dict[str, str] = {}
        while True:
            header = stream.line()
            if header is None:
                return False
            if header == b"":
                break
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "upgrade" in headers or "upgrade" in headers.get("connection", "").lower():
            return False
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = stream.line()
                if size_line is None:
                    return False
                size = int(size_line.split(b";")[0], 16)
                if not stream.forward(size + 2):  # the chunk and its CRLF
                    return False
                if size == 0:
                    return True
        length = int(headers.get("content-length", "0") or 0)
        return stream.forward(length)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, gate: threading.Event | None = None) -> None:
        try:
            while data := src.recv(65536):
                if gate is not None:
                    gate.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
