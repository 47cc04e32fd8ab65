"""A receiver of fluentd's Forward protocol (v1), written from its specification, for tests.

Speaks the server side of https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1:
msgpack values streamed over TCP, each an array in one of four modes

    Message:                 [tag, time, record, option?]
    Forward:                 [tag, [[time, record], ...], option?]
    PackedForward:           [tag, bin(msgpack stream of [time, record]), option?]
    CompressedPackedForward: PackedForward with option {"compressed": "gzip"}

where time is an integer or EventTime (ext type 0: big-endian uint32 seconds,
uint32 nanoseconds). When the option carries "chunk", the server answers
{"ack": chunk} after storing the entries. The handshake (HELO/PING/PONG) for
shared keys is not implemented: tests run unauthenticated on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack


@dataclass(frozen=True)
class Entry:
    """One received event."""

    tag: str
    time: float
    record: dict[str, Any]
    mode: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _decode_time(value: Any) -> float:
    if isinstance(value, msgpack.ExtType) and value.code == 0 and len(value.data) == 8:
        seconds, nanos = struct.unpack(">II", value.data)
        return float(seconds + nanos / 1e9)
    if isinstance(value, int | float):
        return float(value)
    raise ValueError(f"bad time {value!r}")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"record is not a map: {value!r}")
    return {_text(k): (v.decode(errors="replace") if isinstance(v, bytes) else v)
            for k, v in value.items()}


class FluentReceiver:
    """A Forward-protocol server on 127.0.0.1 collecting Entry values; a context manager."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.entries: list[Entry] = []
        self.acks_sent = 0
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> FluentReceiver:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop, listener)
        return self

    def stop(self) -> None:
        """Close the listener and every connection, as a fluentd going down would."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for t in self._threads:
            t.join(timeout=2)
        self._threads.clear()

    def __enter__(self) -> FluentReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[socket.socket], None], sock: socket.socket) -> None:
        t = threading.Thread(target=target, args=(sock,), daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self._conns.add(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                unpacker.feed(data)
                for message in unpacker:
                    ack = self._handle(message)
                    if ack is not None:
                        conn.sendall(msgpack.packb({"ack": ack}))
                        self.acks_sent += 1
        except (OSError, ValueError) as e:
            self.errors.append(str(e))
        finally:
            self._conns.discard(conn)
            conn.close()

    def _handle(self, message: Any) -> Any:
        """Store the entries of one message; the chunk id to ack, if asked for."""
        if not isinstance(message, list | tuple) or len(message) < 2:
            raise ValueError(f"not a forward message: {message!r}")
        tag = _text(message[0])
        second = message[1]
        option: dict[str, Any] = {}
        if isinstance(second, list):
            mode = "Forward"
            pairs = [(e[0], e[1]) for e in second]
            option = message[2] if len(message) > 2 else {}
        elif isinstance(second, bytes | str) and not isinstance(second, msgpack.ExtType):
            option = message[2] if len(message) > 2 else {}
            raw = second.encode("latin-1") if isinstance(second, str) else second
            mode = "PackedForward"
            if (option or {}).get("compressed") == "gzip":
                mode = "CompressedPackedForward"
                raw = gzip.decompress(raw)
            stream = msgpack.Unpacker(raw=False, strict_map_key=False)
            stream.feed(raw)
            pairs = [(e[0], e[1]) for e in stream]
        else:
            mode = "Message"
            pairs = [(second, message[2])]
            option = message[3] if len(message) > 3 else {}
        entries = [Entry(tag, _decode_time(t), _record(r), mode) for t, r in pairs]
        with self._cond:
            self.entries.extend(entries)
            self._cond.notify_all()
        return (option or {}).get("chunk")

    def tagged(self, tag: str) -> list[Entry]:
        """Entries whose tag is `tag` or starts with `tag.`."""
        with self._cond:
            return [e for e in self.entries if e.tag == tag or e.tag.startswith(tag + ".")]

    def wait_for(self, predicate: Callable[[list[Entry]], bool], timeout: float = 10.0) -> bool:
        """Block until predicate(entries) holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.entries):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True
