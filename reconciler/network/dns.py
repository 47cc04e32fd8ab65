"""The cluster DNS server: UDP and TCP on one address, cluster names answered, the rest forwarded.

Runs in a process of its own (dnsd.py), fed the table the proxy's loop writes
(dnsproc.py), so it answers while `reconciler run` or `reconciler proxy` restarts;
tests also run it in-process. Decisions are `dnsnames.resolve` (what a name is)
and `dnsguard` (who may ask what, how often); this module is the wire format
(dnslib), the sockets and their bounded threads. Pods get it through Docker's
`dns`/`dns_search`/`dns_opt` (see docs/network.md for the values).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

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

from reconciler.network.dnsguard import (
    LOOPBACK,
    RateLimiter,
    in_networks,
    may_recurse,
    networks_of,
)
from reconciler.network.dnsnames import Record, resolve
from reconciler.network.model import CLUSTER_DOMAIN, ServiceTable

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DNS_SERVICE_IP = "10.96.0.10"
SEARCH = ("{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local")
OPTIONS = ("ndots:5",)
FORWARD_WORKERS = 16  # threads waiting on the upstream; more forwards queue
FORWARD_QUEUE = 256  # forwards waiting for a worker; beyond it SERVFAIL at once
TCP_CONNECTIONS = 32  # open TCP connections (each its thread); one more is closed
TCP_IDLE = 10.0  # seconds a TCP connection may send nothing (CoreDNS' idle timeout)
STOP_POLL = 0.25  # how long a reading thread blocks before it looks at the stop flag


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
    """Serves cluster names on address:port (UDP and TCP) until `close()`, with bounded threads.

    One thread reads UDP and answers cluster names itself (pure and quick); only
    queries that go upstream wait, in a pool of `forward_workers` threads behind a
    queue of `forward_queue`: when it is full the query gets SERVFAIL at once, so an
    upstream that never answers costs a fixed number of threads and never delays a
    cluster name. TCP connections are served by at most `tcp_connections` threads;
    one more is closed at accept, and one that sends nothing for `tcp_idle` seconds
    is closed. Every source address outside `unlimited` has a token bucket
    (dnsguard.RateLimiter); a query over it is dropped, as a rate-limiting resolver does.
    Names outside the cluster are forwarded only for sources `dnsguard.may_recurse`
    admits (`networks`, pods and nodes of the table); others get REFUSED.
    """

    def __init__(
        self,
        address: str = DNS_SERVICE_IP,
        port: int = 53,
        upstreams: list[tuple[str, int]] | None = None,
        domain: str = CLUSTER_DOMAIN,
        forward_timeout: float = 1.0,
        reuse_port: bool = False,
        table: ServiceTable | None = None,
        *,
        networks: Iterable[str] = LOOPBACK,
        unlimited: Iterable[str] = LOOPBACK,
        limiter: RateLimiter | None = None,
        forward_workers: int = FORWARD_WORKERS,
        forward_queue: int = FORWARD_QUEUE,
        tcp_connections: int = TCP_CONNECTIONS,
        tcp_idle: float = TCP_IDLE,
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
        self.networks = networks_of(networks)
        # This host's own processes (loopback, its own addresses) are not rate limited:
        # they are the host itself, and every one of them shares a single source address.
        self.unlimited = networks_of([*unlimited, address])
        self.limiter = limiter if limiter is not None else RateLimiter()
        self.tcp_idle = tcp_idle
        self.queries = 0
        self.forwarded = 0
        self.failed_forwards = 0
        self.refused = 0  # recursion asked by a source outside the cluster
        self.rate_limited = 0  # queries dropped over a source's rate
        self.overloaded = 0  # forwards answered SERVFAIL because the pool was full
        self.tcp_rejected = 0  # connections closed at accept: the cap was reached
        self.tcp_open = 0  # connections being served now (at most tcp_connections)
        self._stop = threading.Event()
        self._limit_lock = threading.Lock()
        self._udp = _bound(socket.SOCK_DGRAM, address, port, reuse_port)
        self.port = self._udp.getsockname()[1]
        try:
            self._tcp = _bound(socket.SOCK_STREAM, address, self.port, reuse_port)
        except OSError:
            self._udp.close()
            raise
        self._tcp.listen(128)
        self._jobs: queue.Queue[tuple[bytes, DNSRecord, tuple[str, int]] | None] = \
            queue.Queue(maxsize=max(forward_queue, forward_workers))
        self._tcp_slots = threading.BoundedSemaphore(tcp_connections)
        self._threads = [
            threading.Thread(target=self._read_udp, name="dns-udp", daemon=True),
            threading.Thread(target=self._accept_tcp, name="dns-tcp", daemon=True),
            *(threading.Thread(target=self._forward_loop, name=f"dns-fwd-{i}", daemon=True)
              for i in range(forward_workers)),
        ]
        for t in self._threads:
            t.start()

    def update(self, table: ServiceTable) -> None:
        """Answer from `table` from now on (a reference swap: readers never see half a table)."""
        self._table = table

    def close(self, drain: bool = False) -> None:
        """Stop serving; with `drain`, first answer the datagrams already queued (a successor
        bound beside us with SO_REUSEPORT gets the new ones, `_steer_to_second`, so none is
        dropped)."""
        self._stop.set()
        for t in self._threads[:2]:
            t.join(timeout=5)
        if drain:
            self._drain_udp()
        # Forwards still queued are dropped (their askers retry): every worker then
        # finds its end-of-work mark, and none stays blocked on an empty queue.
        with contextlib.suppress(queue.Empty):
            while True:
                self._jobs.get_nowait()
        for _ in self._threads[2:]:
            with contextlib.suppress(queue.Full):
                self._jobs.put_nowait(None)
        for s in (self._udp, self._tcp):
            s.close()

    def _drain_udp(self) -> None:
        sock = self._udp
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

    def _allowed(self, client: str) -> bool:
        if in_networks(client, self.unlimited):
            return True
        with self._limit_lock:
            if self.limiter.allow(client, time.monotonic()):
                return True
            self.rate_limited += 1
            return False

    def _polled(self, receive: Callable[[], _T]) -> Iterator[_T]:
        """What `receive` returns, call after call, until close(); the socket's timeout
        (STOP_POLL) is how soon a stop is seen."""
        while not self._stop.is_set():
            try:
                yield receive()
            except TimeoutError:
                continue
            except OSError:  # EMFILE at accept, say: not a reason to stop, nor to spin
                self._stop.wait(STOP_POLL / 10)

    def _read_udp(self) -> None:
        sock = self._udp
        sock.settimeout(STOP_POLL)
        for data, client in self._polled(lambda: sock.recvfrom(65535)):
            if not self._allowed(client[0]):
                continue
            reply = self._local_answer(data, client[0])
            if isinstance(reply, DNSRecord):
                try:
                    self._jobs.put_nowait((data, reply, client))
                except queue.Full:
                    self.overloaded += 1
                    reply = _rcode(reply, RCODE.SERVFAIL)
            if isinstance(reply, bytes) and reply:
                with contextlib.suppress(OSError):
                    sock.sendto(reply, client)

    def _forward_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._stop.is_set():
                return
            data, request, client = job
            reply = self._forward(data, request, tcp=False)
            with contextlib.suppress(OSError):
                self._udp.sendto(reply, client)

    def _accept_tcp(self) -> None:
        self._tcp.settimeout(STOP_POLL)
        for conn, client in self._polled(self._tcp.accept):
            if not self._tcp_slots.acquire(blocking=False):
                self.tcp_rejected += 1
                conn.close()
                continue
            with self._limit_lock:
                self.tcp_open += 1
            threading.Thread(target=self._serve_tcp, args=(conn, client[0]), name="dns-conn",
                             daemon=True).start()

    def _serve_tcp(self, conn: socket.socket, client: str) -> None:
        # A thread per connection, but no more than the slots: the cap is the bound.
        try:
            conn.settimeout(self.tcp_idle)
            while not self._stop.is_set():
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                body = _recv_exact(conn, struct.unpack("!H", head)[0])
                if body is None:
                    return
                if not self._allowed(client):
                    return
                reply = self.answer(body, tcp=True, client=client)
                if not reply:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return
        finally:
            conn.close()
            with self._limit_lock:
                self.tcp_open -= 1
            self._tcp_slots.release()

    def answer(self, data: bytes, tcp: bool = False, client: str = "") -> bytes:
        """The reply to one query message (b"" for garbage that does not parse); `client`
        is the asker's address. Names outside the cluster are forwarded in this thread."""
        reply = self._local_answer(data, client, tcp)
        if isinstance(reply, DNSRecord):
            return self._forward(data, reply, tcp)
        return reply

    def _local_answer(self, data: bytes, client: str, tcp: bool = False) -> bytes | DNSRecord:
        """The reply from the table, or the parsed request when it must go upstream."""
        try:
            request = DNSRecord.parse(data)
        except Exception:  # dnslib raises several types on malformed input
            return b""
        self.queries += 1
        reply = request.reply()
        if not request.questions:
            return _rcode(request, RCODE.FORMERR)
        q = request.questions[0]
        table = self._table
        res = resolve(table, str(q.qname), QTYPE.get(q.qtype), self.domain, client_ip=client)
        if res.outcome == "forward":
            if not may_recurse(client, self.networks, table):
                self.refused += 1
                return _rcode(request, RCODE.REFUSED)
            return request
        reply.header.aa = 1
        if res.outcome == "nxdomain":
            reply.header.rcode = RCODE.NXDOMAIN
        for r in res.answers:
            reply.add_answer(_rr(r))
        for r in res.additional:
            reply.add_ar(_rr(r))
        packed = bytes(reply.pack())
        if not tcp and len(packed) > 512:
            reply = request.reply()
            reply.header.tc = 1  # too long for plain UDP: the client retries over TCP
            packed = bytes(reply.pack())
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
        return _rcode(request, RCODE.SERVFAIL)


def _rcode(request: DNSRecord, rcode: int) -> bytes:
    reply = request.reply()
    reply.header.rcode = rcode
    return bytes(reply.pack())


def _bound(kind: int, address: str, port: int, reuse_port: bool) -> socket.socket:
    # SO_REUSEPORT (the detached server, dnsd.py): a successor binds beside a running
    # server and takes over without a moment in which the address answers nothing.
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    if reuse_port and kind == socket.SOCK_DGRAM:
        _steer_to_second(sock)
    return sock


SO_ATTACH_REUSEPORT_CBPF = 51  # linux/asm-generic/socket.h
_RET_1 = struct.pack("HBBI", 0x06, 0, 0, 1)  # classic BPF: BPF_RET | BPF_K, return 1


def _steer_to_second(sock: socket.socket) -> None:
    """Every new datagram of the address goes to the group's second socket, when there is one.

    SO_REUSEPORT alone spreads datagrams over every bound socket by hash until the old
    server closes its own: one that lands there between its last read and its close is
    lost. A successor binds as the second socket beside the one old server, so this
    program sends it everything new while the old one drains what it holds. Alone in the
    group (index 1 does not exist), the kernel falls back to its hash: this socket.
    """
    program = ctypes.create_string_buffer(_RET_1, len(_RET_1))
    fprog = struct.pack("HP", 1, ctypes.addressof(program))  # struct sock_fprog
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError as exc:  # a kernel without it: the hash spreads, as before
        log.debug("DNS: no reuseport steering: %s", exc)


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
