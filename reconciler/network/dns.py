"""The cluster DNS server: UDP and TCP on one address, cluster names answered, the rest forwarded.

Runs in a process of its own (dnsd.py), fed the table the proxy's loop writes
(dnsproc.py), so it answers while `reconciler run` or `reconciler proxy` restarts;
tests also run it in-process. Decisions are `dnsnames.resolve`;
this module is the wire format (dnslib) and sockets. Pods get it through Docker's
`dns`/`dns_search`/`dns_opt` (see docs/network.md for the values).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading
from pathlib import Path

from dnslib import (
    CNAME,
    PTR,
    QTYPE,
    RCODE,
    RR,
    SRV,
    A,
    DNSRecord,
)

from reconciler.network.dnsnames import Record, resolve
from reconciler.network.model import CLUSTER_DOMAIN, ServiceTable

log = logging.getLogger(__name__)

DNS_SERVICE_IP = "10.96.0.10"
SEARCH = ("{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local")
OPTIONS = ("ndots:5",)


def host_resolvers(resolv_conf: Path = Path("/etc/resolv.conf"), exclude: str = "") -> list[str]:
    """The host's nameservers, without our own address (forwarding to ourselves would loop)."""
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] != exclude:
            out.append(parts[1])
    return out


def _rr(r: Record) -> RR:
    if r.type == "A":
        return RR(r.name, QTYPE.A, rdata=A(r.value), ttl=r.ttl)
    if r.type == "CNAME":
        return RR(r.name, QTYPE.CNAME, rdata=CNAME(r.value), ttl=r.ttl)
    if r.type == "PTR":
        return RR(r.name, QTYPE.PTR, rdata=PTR(r.value), ttl=r.ttl)
    return RR(r.name, QTYPE.SRV, rdata=SRV(0, 100, r.port, r.value), ttl=r.ttl)


class DnsServer:
    """Serves cluster names on address:port (UDP and TCP) until `close()`."""

    def __init__(
        self,
        address: str = DNS_SERVICE_IP,
        port: int = 53,
        upstreams: list[tuple[str, int]] | None = None,
        domain: str = CLUSTER_DOMAIN,
        forward_timeout: float = 1.0,
        reuse_port: bool = False,
        table: ServiceTable | None = None,
    ) -> None:
        self.address = address
        self.domain = domain
        self.forward_timeout = forward_timeout
        if upstreams is None:
            upstreams = [(ip, 53) for ip in host_resolvers(exclude=address)]
        self.upstreams = upstreams
        # Answers from the first query on: a server taking over from another must not
        # answer a single query from an empty table.
        self._table = table or ServiceTable()
        self.queries = 0
        self.forwarded = 0
        self.failed_forwards = 0
        server = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = server.answer(data, client=self.client_address[0])
                if reply:
                    sock.sendto(reply, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(10)
                while True:
                    head = _recv_exact(conn, 2)
                    if head is None:
                        return
                    body = _recv_exact(conn, struct.unpack("!H", head)[0])
                    if body is None:
                        return
                    reply = server.answer(body, tcp=True, client=self.client_address[0])
                    conn.sendall(struct.pack("!H", len(reply)) + reply)

        # SO_REUSEPORT (the detached server, dnsd.py): a successor binds beside a running
        # server and takes over without a moment in which the address answers nothing.
        class UdpServer(socketserver.ThreadingUDPServer):
            allow_reuse_address = True
            allow_reuse_port = reuse_port

        class TcpServer(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            allow_reuse_port = reuse_port

        self._udp = UdpServer((address, port), Udp)
        self._udp.daemon_threads = True
        bound = self._udp.server_address[1]
        self._tcp = TcpServer((address, bound), Tcp)
        self._tcp.daemon_threads = True
        self.port = bound
        self._threads = [
            threading.Thread(target=s.serve_forever, name=f"dns-{n}", daemon=True)
            for n, s in (("udp", self._udp), ("tcp", self._tcp))
        ]
        for t in self._threads:
            t.start()

    def update(self, table: ServiceTable) -> None:
        """Answer from `table` from now on (a reference swap: readers never see half a table)."""
        self._table = table

    def close(self, drain: bool = False) -> None:
        """Stop serving; with `drain`, first answer the datagrams already queued (a successor
        bound beside us with SO_REUSEPORT gets the new ones, so none is dropped)."""
        for s in (self._udp, self._tcp):
            s.shutdown()
        if drain:
            self._drain_udp()
        for s in (self._udp, self._tcp):
            s.server_close()

    def _drain_udp(self) -> None:
        sock = self._udp.socket
        sock.setblocking(False)
        while True:
            try:
                data, client = sock.recvfrom(65535)
            except OSError:  # BlockingIOError: the queue is empty
                return
            reply = self.answer(data, client=client[0])
            if reply:
                with contextlib.suppress(OSError):
                    sock.sendto(reply, client)

    def answer(self, data: bytes, tcp: bool = False, client: str = "") -> bytes:
        """The reply to one query message (b"" for garbage that does not parse); `client`
        is the asker's address."""
        try:
            request = DNSRecord.parse(data)
        except Exception:  # dnslib raises several types on malformed input
            return b""
        self.queries += 1
        reply = request.reply()
        if not request.questions:
            reply.header.rcode = RCODE.FORMERR
            return bytes(reply.pack())
        q = request.questions[0]
        res = resolve(self._table, str(q.qname), QTYPE.get(q.qtype), self.domain,
                      client_ip=client)
        if res.outcome == "forward":
            return self._forward(data, request, tcp)
        reply.header.aa = 1
        if res.outcome == "nxdomain":
            reply.header.rcode = RCODE.NXDOMAIN
        for r in res.answers:
            reply.add_answer(_rr(r))
        for r in res.additional:
            reply.add_ar(_rr(r))
        packed: bytes = reply.pack()
        if not tcp and len(packed) > 512:
            reply = request.reply()
            reply.header.tc = 1  # too long for plain UDP: the client retries over TCP
            packed = reply.pack()
        return packed

    def _forward(self, data: bytes, request: DNSRecord, tcp: bool) -> bytes:
        self.forwarded += 1
        for host, port in self.upstreams:
            try:
                reply: bytes = request.send(host, port, tcp=tcp, timeout=self.forward_timeout)
                return reply
            except (OSError, ValueError) as exc:
                log.debug("forward to %s:%d failed: %s", host, port, exc)
        self.failed_forwards += 1
        fail = request.reply()
        fail.header.rcode = RCODE.SERVFAIL
        return bytes(fail.pack())


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        try:
            chunk = conn.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf
