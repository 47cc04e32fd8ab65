"""The userspace mode of `ServiceProxy`: TCP and UDP listeners for every proxied address.

Runs its own asyncio loop in a daemon thread; `update(table)` is called from the
proxy's thread and converges the listeners there. A listener's `PortState` is
updated in place, so new connections see new endpoints at once while open
connections keep the backend they have: an endpoint change never drops one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.network.balancer import Balancer
from reconciler.network.model import ServiceTable
from reconciler.network.rules import port_id
from reconciler.network.tcp import (
    MAX_CONNECTIONS,
    MAX_SESSIONS,
    PortState,
    PortStats,
    ServiceUsage,
    listen_tcp,
)
from reconciler.network.udp import DEFAULT_IDLE_TIMEOUT, listen_udp

log = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it roughly doubles connections per second), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@dataclass(frozen=True, order=True)
class ListenKey:
    host: str
    port: int
    protocol: str


@dataclass
class _Listener:
    port_id: str
    close: Callable[[], None]


class UserspaceProxier:
    """Listeners for every proxied service port of a table, on one event loop thread."""

    def __init__(
        self,
        node_name: str,
        udp_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        node_port_address: str = "0.0.0.0",
        max_connections: int = MAX_CONNECTIONS,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.node_name = node_name
        self.udp_idle_timeout = udp_idle_timeout
        self.node_port_address = node_port_address
        self.max_connections = max_connections  # per service: TCP connections open at once
        self.max_sessions = max_sessions  # per service: UDP sessions open at once
        self._states: dict[str, PortState] = {}
        self._usage: dict[str, ServiceUsage] = {}
        self._listeners: dict[ListenKey, _Listener] = {}
        self.errors: dict[ListenKey, str] = {}  # listeners that could not bind, and why
        # The loop is created in its own thread: uvloop delays callbacks scheduled from
        # I/O callbacks until the next I/O event when the loop was made in another thread.
        ready = threading.Event()
        box: list[asyncio.AbstractEventLoop] = []

        def run() -> None:
            loop = new_event_loop()
            asyncio.set_event_loop(loop)
            box.append(loop)
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="userspace-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = box[0]

    def update(self, table: ServiceTable, local_ips: Iterable[str]) -> None:
        """Converge listeners and endpoints to `table` (blocks until done)."""
        coro = self._update(table, frozenset(local_ips))
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        fut.result(timeout=30)

    def stats(self) -> dict[str, PortStats]:
        """Counters per service port ("ns/name:port/PROTO"): connections and bytes."""
        return {k: s.stats for k, s in self._states.items()}

    def listening(self) -> set[ListenKey]:
        return set(self._listeners)

    def close(self) -> None:
        """Stop listening; open connections are closed with the loop."""
        if self._loop.is_closed():
            return
        fut = asyncio.run_coroutine_threadsafe(self._close_all(), self._loop)
        with contextlib.suppress(Exception):
            fut.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _close_all(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    async def _update(self, table: ServiceTable, local_ips: frozenset[str]) -> None:
        wanted: dict[ListenKey, str] = {}
        seen_ports: set[str] = set()
        seen_services: set[str] = set()
        for svc in table.proxied():
            affinity = svc.session_affinity == "ClientIP"
            usage = self._usage.setdefault(svc.key, ServiceUsage())
            usage.max_connections, usage.max_sessions = self.max_connections, self.max_sessions
            seen_services.add(svc.key)
            for port in svc.ports:
                if port.protocol not in ("TCP", "UDP"):
                    continue
                pid = port_id(svc, port)
                seen_ports.add(pid)
                state = self._states.get(pid)
                if state is None:
                    state = PortState(pid, Balancer(), PortStats(), usage)
                    self._states[pid] = state
                state.usage = usage
                state.balancer.update(
                    port.backends(self.node_name), affinity, float(svc.affinity_timeout)
                )
                wanted[ListenKey(svc.cluster_ip, port.port, port.protocol)] = pid
                if port.node_port:
                    key = ListenKey(self.node_port_address, port.node_port, port.protocol)
                    wanted[key] = pid
                for ip in svc.external_ips:
                    if ip in local_ips:
                        wanted[ListenKey(ip, port.port, port.protocol)] = pid
        for key in list(self._listeners):
            if wanted.get(key) != self._listeners[key].port_id:
                # Server.close stops accepting; connections already open carry on.
                self._listeners.pop(key).close()
        for key, pid in sorted(wanted.items()):
            if key in self._listeners:
                continue
            try:
                self._listeners[key] = _Listener(pid, await self._listen(key, self._states[pid]))
                self.errors.pop(key, None)
            except OSError as exc:
                self.errors[key] = str(exc)
                log.warning("userspace proxy: cannot listen on %s: %s", key, exc)
        for pid in set(self._states) - seen_ports:
            del self._states[pid]
        for gone in set(self._usage) - seen_services:
            del self._usage[gone]

    async def _listen(self, key: ListenKey, state: PortState) -> Callable[[], None]:
        if key.protocol == "TCP":
            server = await listen_tcp(key.host, key.port, state)
            return server.close
        transport = await listen_udp(key.host, key.port, state, self.udp_idle_timeout)
        return transport.close
