"""The userspace UDP proxy: per-client sessions to a chosen backend, closed after an idle timeout.

Used by `reconciler.network.userspace` next to the TCP proxy. A datagram from a
new client address opens a connected socket to a backend picked by the port's
balancer; the backend's answers go back to the client from the listening socket,
so the client sees the service address answer. Sessions survive endpoint
changes until they go idle, as conntrack entries do in the iptables mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import cast

from reconciler.network.model import Backend
from reconciler.network.tcp import PortState

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 30.0


class _Upstream(asyncio.DatagramProtocol):
    """The session's socket toward the backend: what it receives goes to the client."""

    def __init__(self, session: _Session) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        s = self.session
        s.last_used = time.monotonic()
        s.listener.stats.bytes_out += len(data)
        if s.listener.transport is not None:
            s.listener.transport.sendto(data, s.client)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from the backend: end the session so the next
        # datagram from this client picks another endpoint.
        self.session.listener.state.stats.refused += 1
        self.session.listener.state.balancer.forget(self.session.client[0])
        self.session.close()


@dataclass
class _Session:
    listener: _Listener
    client: tuple[str, int]
    backend: Backend
    transport: asyncio.DatagramTransport | None = None
    last_used: float = field(default_factory=time.monotonic)
    pending: list[bytes] = field(default_factory=list)
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.listener.sessions.pop(self.client, None)
            self.listener.state.usage.sessions -= 1
            if self.transport is not None:
                self.transport.close()


class _Listener(asyncio.DatagramProtocol):
    """The socket on the service address and port."""

    def __init__(self, state: PortState, idle_timeout: float) -> None:
        self.state = state
        self.stats = state.stats
        self.idle_timeout = idle_timeout
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[tuple[str, int], _Session] = {}
        self._reaper: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self._schedule_reap()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        client = (str(addr[0]), int(addr[1]))
        self.stats.datagrams += 1
        self.stats.bytes_in += len(data)
        session = self.sessions.get(client)
        if session is None:
            usage = self.state.usage
            if usage.sessions >= usage.max_sessions:
                self.stats.capped += 1
                return
            backend = self.state.balancer.pick(client[0])
            if backend is None:
                self.stats.failed += 1
                return
            usage.sessions += 1
            session = _Session(self, client, backend)
            self.sessions[client] = session
            self.stats.connections += 1
            session.pending.append(data)
            asyncio.get_running_loop().create_task(self._open(session))
            return
        session.last_used = time.monotonic()
        if session.transport is None:
            session.pending.append(data)
        else:
            session.transport.sendto(data)

    async def _open(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Upstream(session),
                remote_addr=(session.backend.ip, session.backend.port),
            )
        except OSError as exc:
            log.debug("udp %s: %s: %s", self.state.name, session.backend, exc)
            self.stats.refused += 1
            session.close()
            return
        if session.closed:
            transport.close()
            return
        session.transport = transport
        for data in session.pending:
            transport.sendto(data)
        session.pending.clear()

    def _schedule_reap(self) -> None:
        loop = asyncio.get_running_loop()
        self._reaper = loop.call_later(max(self.idle_timeout / 4, 0.05), self._reap)

    def _reap(self) -> None:
        now = time.monotonic()
        for s in list(self.sessions.values()):
            if now - s.last_used > self.idle_timeout:
                s.close()
        if self.transport is not None and not self.transport.is_closing():
            self._schedule_reap()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for s in list(self.sessions.values()):
            s.close()


async def listen_udp(
    host: str, port: int, state: PortState, idle_timeout: float = DEFAULT_IDLE_TIMEOUT
) -> asyncio.DatagramTransport:
    """Serve UDP on host:port until the returned transport is closed."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Listener(state, idle_timeout), local_addr=(host, port), reuse_port=False
    )
    return transport
