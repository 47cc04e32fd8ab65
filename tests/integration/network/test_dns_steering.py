"""The detached DNS server's handover on a real kernel: a successor's UDP socket takes
every new datagram of the SO_REUSEPORT group (dns._steer_to_second), so the old server
can drain and close without losing one."""

from __future__ import annotations

import socket

from reconciler.network.dns import _bound
from tests.support.fluent_receiver import free_port

ADDRESS = "127.0.0.1"


def received(sock: socket.socket) -> int:
    """How many datagrams wait in `sock`'s queue (read without blocking)."""
    sock.setblocking(False)
    n = 0
    while True:
        try:
            sock.recvfrom(512)
        except BlockingIOError:
            return n
        n += 1


def send_from_many_ports(port: int, count: int) -> None:
    """One datagram from each of `count` fresh sockets: the hash spreads distinct ports."""
    for _ in range(count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.sendto(b"q", (ADDRESS, port))


class TestSteering:
    def test_successor_gets_every_new_datagram(self) -> None:
        """Beside an old socket, the second one receives all 200 datagrams."""
        port = free_port()
        old = _bound(socket.SOCK_DGRAM, ADDRESS, port, reuse_port=True)
        new = _bound(socket.SOCK_DGRAM, ADDRESS, port, reuse_port=True)
        try:
            send_from_many_ports(port, 200)
            assert (received(old), received(new)) == (0, 200)
        finally:
            old.close()
            new.close()

    def test_alone_after_the_old_closes(self) -> None:
        """The old socket gone, the one left receives everything (the kernel's fallback)."""
        port = free_port()
        old = _bound(socket.SOCK_DGRAM, ADDRESS, port, reuse_port=True)
        new = _bound(socket.SOCK_DGRAM, ADDRESS, port, reuse_port=True)
        old.close()
        try:
            send_from_many_ports(port, 50)
            assert received(new) == 50
        finally:
            new.close()

    def test_first_server_alone_receives_everything(self) -> None:
        """A first server, alone in its group, is not steered away from itself."""
        port = free_port()
        only = _bound(socket.SOCK_DGRAM, ADDRESS, port, reuse_port=True)
        try:
            send_from_many_ports(port, 50)
            assert received(only) == 50
        finally:
            only.close()
