"""The userspace proxy's caps per service on real sockets: one connection or session too many.

The proxier listens on a loopback address standing in for a cluster IP (127/8 is on
lo already: no address, rule or route is changed), in front of echo servers of the
test's own on other loopback addresses.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from reconciler.network.model import Endpoint, ServiceEntry, ServicePort, ServiceTable
from reconciler.network.userspace import UserspaceProxier
from tests.support.waiting import wait_for

VIP = "127.0.0.61"
BACKEND = "127.0.0.62"
CLIENTS = ("127.0.0.63", "127.0.0.64")


class Echo(socketserver.BaseRequestHandler):
    """Echoes TCP bytes until the peer closes."""

    def handle(self) -> None:
        conn: socket.socket = self.request
        while data := conn.recv(4096):
            conn.sendall(data)


class UdpEcho(socketserver.BaseRequestHandler):
    """Echoes each datagram."""

    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(data, self.client_address)


@pytest.fixture
def echo() -> Iterator[tuple[int, int]]:
    """A TCP and a UDP echo server on BACKEND: their ports."""
    tcp = socketserver.ThreadingTCPServer((BACKEND, 0), Echo)
    tcp.daemon_threads = True
    udp = socketserver.UDPServer((BACKEND, 0), UdpEcho)
    for s in (tcp, udp):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield tcp.server_address[1], udp.server_address[1]
    for s in (tcp, udp):
        s.shutdown()
        s.server_close()


def _table(tcp_port: int, udp_port: int) -> ServiceTable:
    ports = (ServicePort(7001, "TCP", "t", 0, (Endpoint(BACKEND, tcp_port),)),
             ServicePort(7001, "UDP", "u", 0, (Endpoint(BACKEND, udp_port),)))
    return ServiceTable.of([ServiceEntry("default", "capped", cluster_ip=VIP, ports=ports)])


class TestUserspaceCaps:
    def test_tcp_connection_over_cap_refused(self, echo: tuple[int, int]) -> None:
        """With a cap of 2, a third open connection is reset and counted; a slot frees on close."""
        proxier = UserspaceProxier("local", max_connections=2, max_sessions=1)
        try:
            proxier.update(_table(*echo), ())
            stats = proxier.stats()["default/capped:t/TCP"]
            held = [socket.create_connection((VIP, 7001), timeout=15) for _ in range(2)]
            for c in held:
                c.sendall(b"hi")
                assert c.recv(2) == b"hi"
            with socket.create_connection((VIP, 7001), timeout=15) as third, \
                    contextlib.suppress(ConnectionResetError):
                assert third.recv(1) == b""
            assert stats.capped == 1
            held.pop().close()

            def fresh_echoes() -> bool:
                with socket.create_connection((VIP, 7001), timeout=15) as c:
                    try:
                        c.sendall(b"ok")
                        return c.recv(2) == b"ok"
                    except OSError:
                        return False

            wait_for(fresh_echoes, "a connection accepted once a slot was free")
            for c in held:
                c.close()
        finally:
            proxier.close()

    def test_udp_session_over_cap_dropped(self, echo: tuple[int, int]) -> None:
        """With a cap of 1 session, a second client's datagram is dropped and counted."""
        proxier = UserspaceProxier("local", max_connections=2, max_sessions=1)
        try:
            proxier.update(_table(*echo), ())
            stats = proxier.stats()["default/capped:u/UDP"]
            first, second = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in CLIENTS)
            with first, second:
                for sock, ip in zip((first, second), CLIENTS, strict=True):
                    sock.bind((ip, 0))
                    sock.settimeout(30)
                first.sendto(b"one", (VIP, 7001))
                assert first.recvfrom(100)[0] == b"one"
                second.sendto(b"two", (VIP, 7001))
                wait_for(lambda: stats.capped == 1, "the second session refused")
                first.sendto(b"again", (VIP, 7001))
                assert first.recvfrom(100)[0] == b"again"
        finally:
            proxier.close()
