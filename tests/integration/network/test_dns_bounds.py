"""The cluster DNS server stays bounded on real sockets: floods, rate limits, strangers, TCP caps.

Every server, client and flood here uses its own loopback addresses (127/8 is on lo
already: nothing machine-wide changes) and ephemeral ports. The flood is a separate
process, so the threads counted are the server's own.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from reconciler.network.dns import DnsServer
from reconciler.network.dnsguard import RateLimiter
from reconciler.network.model import ServiceEntry, ServiceTable
from tests.support.waiting import wait_for

SERVER = "127.0.0.57"
FLOODER = "127.0.0.58"
CLIENT = "127.0.0.59"
NAME = "web.default.svc.cluster.local"
TABLE = ServiceTable.of([ServiceEntry("default", "web", cluster_ip="10.96.201.20")])
# The flood: 10,000 queries a second (20,000 in 2 s), for names outside the
# cluster, until killed.
FLOOD = """
import random, socket, sys, time
from dnslib import DNSRecord
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.setblocking(False)
names = [DNSRecord.question(f"h{random.randrange(1 << 30)}.example.org", "A").pack()
         for _ in range(1000)]
while True:
    for q in random.sample(names, 100):
        try:
            s.sendto(q, (sys.argv[2], int(sys.argv[3])))
        except BlockingIOError:
            pass
    time.sleep(0.01)
"""


def ask_from(source: str, server: DnsServer, name: str = NAME, tries: int = 5) -> DNSRecord:
    """One query from `source`, retried as a stub resolver does when a datagram is lost."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(2)
        q = DNSRecord.question(name, "A")
        for _ in range(tries):
            s.sendto(q.pack(), (server.address, server.port))
            try:
                while True:
                    reply = DNSRecord.parse(s.recvfrom(65535)[0])
                    if reply.header.id == q.header.id:
                        return reply
            except TimeoutError:
                continue
    raise AssertionError(f"{name} not answered to {source}")


@pytest.fixture
def silent() -> Iterator[tuple[str, int]]:
    """An upstream that never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.60", 0))
        yield s.getsockname()


class TestDnsBounds:
    def test_flood_of_forwards_stays_bounded(self, silent: tuple[str, int]) -> None:
        """A flood for a silent upstream: threads stay bounded, cluster names still answered."""
        base = threading.active_count()
        # The default rate limit per source, the flooder not exempt as loopback.
        server = DnsServer(SERVER, 0, upstreams=[silent], table=TABLE, forward_workers=4,
                           forward_queue=32, unlimited=())
        flood = subprocess.Popen([sys.executable, "-c", FLOOD, FLOODER, SERVER,
                                  str(server.port)])
        peak = threading.active_count()
        try:
            def flooded() -> bool:
                nonlocal peak
                peak = max(peak, threading.active_count())
                return server.queries + server.rate_limited >= 20_000 and server.overloaded > 0

            wait_for(flooded, "20,000 queries read and the forward pool full", timeout=120)
            for _ in range(10):
                # Retried as a stub resolver does: a loaded machine may drop a datagram.
                reply = ask_from(CLIENT, server, tries=10)
                assert [str(r.rdata) for r in reply.rr] == ["10.96.201.20"]
                peak = max(peak, threading.active_count())
            assert flood.poll() is None, "the flood ended before the real queries did"
        finally:
            flood.kill()
            flood.wait()
            server.close()
        # The UDP reader, the TCP acceptor and the four forwarders.
        assert peak - base <= 6, (base, peak)

    def test_rate_limited_per_source(self) -> None:
        """A source over its rate is dropped; another source is still answered."""
        server = DnsServer(SERVER, 0, upstreams=[], table=TABLE, unlimited=(),
                           limiter=RateLimiter(rate=1, burst=10))
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((FLOODER, 0))
                for _ in range(100):
                    s.sendto(DNSRecord.question(NAME, "A").pack(), (SERVER, server.port))
            wait_for(lambda: server.queries + server.rate_limited >= 100, "100 queries read")
            assert server.rate_limited >= 50
            assert ask_from(CLIENT, server).rr
        finally:
            server.close()

    def test_recursion_refused_to_strangers(self) -> None:
        """A stranger gets REFUSED for outside names and answers for ours."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.bind(("127.0.0.60", 0))
            stop = threading.Event()

            def answer() -> None:
                up.settimeout(0.2)
                while not stop.is_set():
                    try:
                        data, peer = up.recvfrom(65535)
                    except TimeoutError:
                        continue
                    q = DNSRecord.parse(data)
                    reply = q.reply()
                    reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
                    up.sendto(reply.pack(), peer)

            fake = threading.Thread(target=answer, daemon=True)
            fake.start()
            server = DnsServer(SERVER, 0, upstreams=[up.getsockname()], table=TABLE,
                               networks=[f"{CLIENT}/32"])
            try:
                outside = ask_from(FLOODER, server, "www.example.org")
                assert outside.header.rcode == RCODE.REFUSED and server.refused == 1
                assert [str(r.rdata) for r in ask_from(FLOODER, server).rr] == ["10.96.201.20"]
                inside = ask_from(CLIENT, server, "www.example.org")
                assert [str(r.rdata) for r in inside.rr] == ["192.0.2.1"]
            finally:
                server.close()
                stop.set()
                fake.join()

    def test_tcp_connection_cap(self) -> None:
        """One connection over the cap is closed at once; a closed one gives its slot back."""
        server = DnsServer(SERVER, 0, upstreams=[], table=TABLE, tcp_connections=2,
                           tcp_idle=3600)
        conns = [socket.create_connection((SERVER, server.port), timeout=30) for _ in range(2)]
        try:
            for c in conns:
                assert _tcp_ask(c).rr
            with socket.create_connection((SERVER, server.port), timeout=30) as extra:
                assert _recv_or_reset(extra) == b""
            assert server.tcp_rejected == 1
            conns.pop().close()

            def fresh_answered() -> bool:
                with socket.create_connection((SERVER, server.port), timeout=30) as c:
                    try:
                        return bool(_tcp_ask(c).rr)
                    except (OSError, struct.error, AssertionError):
                        return False

            wait_for(fresh_answered, "a new TCP connection answered once a slot was free")
        finally:
            for c in conns:
                c.close()
            server.close()

    def test_tcp_idle_connection_closed(self) -> None:
        """A connection that sends nothing is closed by the server after its idle timeout."""
        server = DnsServer(SERVER, 0, upstreams=[], table=TABLE, tcp_idle=0.5)
        try:
            with socket.create_connection((SERVER, server.port), timeout=60) as idle:
                assert _recv_or_reset(idle) == b""
            wait_for(lambda: server.tcp_open == 0, "the connection's slot given back")
        finally:
            server.close()


def _tcp_ask(conn: socket.socket) -> DNSRecord:
    q = DNSRecord.question(NAME, "A").pack()
    conn.sendall(struct.pack("!H", len(q)) + q)
    head = conn.recv(2)
    assert len(head) == 2, "connection closed"
    size = struct.unpack("!H", head)[0]
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        assert chunk, "connection closed"
        body += chunk
    return DNSRecord.parse(body)


def _recv_or_reset(conn: socket.socket) -> bytes:
    try:
        return conn.recv(1)
    except ConnectionResetError:
        return b""
