"""The userspace TCP proxy: one listener per service address and port, splicing bytes both ways.

Used by `reconciler.network.userspace` when kernel NAT rules cannot be installed.
Built on asyncio protocols rather than streams: a chunk read on one side is
written to the other from the same callback, with no coroutine switch, and flow
control is the transports' own (pause reading one side while the other's write
buffer is full). That is what makes it fast enough to be a fallback worth having.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from typing import cast

from reconciler.network.balancer import Balancer
from reconciler.network.model import Backend

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0
# Per service, all its ports and addresses together: each TCP connection holds two
# descriptors, each UDP session one, and the service's RLIMIT_NOFILE is shared by all
# services; one service under a flood must leave descriptors for the others.
MAX_CONNECTIONS = 4096
MAX_SESSIONS = 4096
HIGH_WATER = 1 << 20  # bytes buffered toward a slow peer before we stop reading the other side
SOCKET_BUFFER = 1 << 20


@dataclass
class PortStats:
    """Counters of one service port, read by the service for metrics."""

    connections: int = 0
    active: int = 0
    refused: int = 0
    failed: int = 0  # no backend would take the connection
    bytes_in: int = 0  # client -> backend
    bytes_out: int = 0  # backend -> client
    datagrams: int = 0
    capped: int = 0  # connections or sessions refused: the service was at its cap


@dataclass
class ServiceUsage:
    """Open TCP connections and UDP sessions of one service, against its caps."""

    max_connections: int = MAX_CONNECTIONS
    max_sessions: int = MAX_SESSIONS
    connections: int = 0
    sessions: int = 0


@dataclass
class PortState:
    """What a listener consults per new connection; updating it never touches open ones."""

    name: str
    balancer: Balancer
    stats: PortStats
    usage: ServiceUsage = field(default_factory=ServiceUsage)


def _tune(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
    except OSError:
        pass


class _Half(asyncio.Protocol):
    """One side of a proxied connection: what it reads, its peer writes."""

    def __init__(self, stats: PortStats, inbound: bool) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.stats = stats
        self.inbound = inbound  # True for the client side
        self.eof = False
        self.closed = False
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's transports do not subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=HIGH_WATER)
        _tune(transport)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None:
            # Not spliced yet (uvloop starts reading after connection_made even when
            # it paused): keep the bytes for the backend and stop reading meanwhile.
            self.early.append(data)
            if self.transport is not None:
                self.transport.pause_reading()
            return
        if peer.transport is None or peer.closed:
            return
        peer.transport.write(data)
        if self.inbound:
            self.stats.bytes_in += len(data)
        else:
            self.stats.bytes_out += len(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
            if peer.eof:
                self._close_both()
                return False
        # Keep our side open for writing: a half-closed client still reads the answer.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.inbound:
            self.stats.active -= 1
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            # Let buffered data drain: close() flushes, abort() would not.
            peer.transport.close()

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.resume_reading()

    def _close_both(self) -> None:
        for half in (self, self.peer):
            if half is not None and half.transport is not None:
                half.transport.close()


class _Client(_Half):
    """The accepted side: holds reading until a backend answers, then splices."""

    def __init__(self, state: PortState) -> None:
        super().__init__(state.stats, inbound=True)
        self._state = state
        self.counted = True  # False for a connection refused at the cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        usage = self._state.usage
        if usage.connections >= usage.max_connections:
            self.stats.capped += 1
            self.counted = False
            self.transport.abort()  # a reset, as a refused connection looks to the client
            return
        usage.connections += 1
        self.transport.pause_reading()
        self.stats.connections += 1
        self.stats.active += 1
        asyncio.get_running_loop().create_task(self._connect())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.counted:
            self.closed = True
            return
        self._state.usage.connections -= 1
        super().connection_lost(exc)

    async def _connect(self) -> None:
        assert self.transport is not None
        state = self._state
        peername = self.transport.get_extra_info("peername")
        client_ip = peername[0] if peername else ""
        loop = asyncio.get_running_loop()
        tried: set[Backend] = set()
        while not self.closed:
            backend = state.balancer.pick(client_ip, frozenset(tried))
            if backend is None:
                self.stats.failed += 1
                self.transport.abort()  # as a refused connection looks to the client: a reset
                return
            tried.add(backend)
            try:
                # asyncio.timeout, not wait_for: no extra task per connection.
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    _, upstream = await loop.create_connection(
                        lambda: _Half(self.stats, inbound=False), backend.ip, backend.port
                    )
            except (TimeoutError, OSError) as exc:
                # A refused or silent endpoint: try the next one, as kube-proxy's userspace did.
                self.stats.refused += 1
                state.balancer.forget(client_ip)
                log.debug("%s: %s refused: %r", state.name, backend, exc)
                continue
            if self.closed:
                if upstream.transport is not None:
                    upstream.transport.close()
                return
            self.peer, upstream.peer = upstream, self
            early, self.early = self.early, []
            for chunk in early:
                self.data_received(chunk)
            if self.eof and upstream.transport is not None and upstream.transport.can_write_eof():
                upstream.transport.write_eof()
            self.transport.resume_reading()
            return


async def listen_tcp(host: str, port: int, state: PortState) -> asyncio.AbstractServer:
    """Listen on host:port; updating `state.balancer` changes endpoints for new connections."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: _Client(state), host, port, reuse_address=True, backlog=1024
    )
