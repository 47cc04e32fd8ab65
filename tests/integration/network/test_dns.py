"""The cluster DNS server on real sockets: answers, forwarding to a local fake upstream, pods."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from reconciler.network import hostnet
from reconciler.network.dns import DnsServer
from reconciler.network.model import Endpoint, ServiceEntry, ServicePort, ServiceTable
from reconciler.network.proxy import ServiceProxy
from tests.integration.network.conftest import Box
from tests.support.machine_lock import MACHINE_NETWORK, proxy_lock

pytestmark = MACHINE_NETWORK  # one test installs the proxy (test_pod_resolves_service_names)

HEADLESS_EP = Endpoint("172.17.0.9", 6379, "local", hostname="redis-0")
TABLE = ServiceTable.of([
    ServiceEntry("default", "web", cluster_ip="10.96.200.20",
                 ports=(ServicePort(80, "TCP", "http", 0, ()),)),
    ServiceEntry("default", "redis", cluster_ip="None",
                 ports=(ServicePort(6379, "TCP", "redis", 0, (HEADLESS_EP,)),),
                 addresses=(HEADLESS_EP,)),
    ServiceEntry("default", "ext", "ExternalName", external_name="db.example.org"),
])
UPSTREAM = ("127.0.0.53", 0)


class FakeUpstream(socketserver.BaseRequestHandler):
    """Answers every A query with 192.0.2.1: stands in for the host's resolver."""

    def handle(self) -> None:
        data, sock = self.request
        q = DNSRecord.parse(data)
        reply = q.reply()
        reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
        sock.sendto(reply.pack(), self.client_address)


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    srv = socketserver.UDPServer(UPSTREAM, FakeUpstream)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address  # type: ignore[misc]
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def dns(upstream: tuple[str, int]) -> Iterator[DnsServer]:
    server = DnsServer("127.0.0.54", 0, upstreams=[upstream])
    server.update(TABLE)
    yield server
    server.close()


def ask(server: DnsServer, name: str, qtype: str, tcp: bool = False) -> DNSRecord:
    raw = DNSRecord.question(name, qtype).send(server.address, server.port, tcp=tcp, timeout=3)
    return DNSRecord.parse(raw)


class TestDnsServer:
    @pytest.mark.parametrize("tcp", [False, True])
    def test_a_record(self, dns: DnsServer, tcp: bool) -> None:
        """A service's full name gives its cluster IP, over UDP and TCP."""
        r = ask(dns, "web.default.svc.cluster.local", "A", tcp)
        assert [str(a.rdata) for a in r.rr] == ["10.96.200.20"]

    def test_srv_record(self, dns: DnsServer) -> None:
        """A named port has an SRV record."""
        r = ask(dns, "_http._tcp.web.default.svc.cluster.local", "SRV")
        assert r.rr[0].rdata.port == 80
        assert str(r.rr[0].rdata.target) == "web.default.svc.cluster.local."

    def test_cname_and_headless(self, dns: DnsServer) -> None:
        """ExternalName is a CNAME; a headless service gives its pods' addresses."""
        r = ask(dns, "ext.default.svc.cluster.local", "A")
        assert r.rr[0].rtype == QTYPE.CNAME and str(r.rr[0].rdata) == "db.example.org."
        r = ask(dns, "redis.default.svc.cluster.local", "A")
        assert [str(a.rdata) for a in r.rr] == ["172.17.0.9"]

    def test_nxdomain(self, dns: DnsServer) -> None:
        """Unknown names in cluster.local are NXDOMAIN."""
        assert ask(dns, "nope.default.svc.cluster.local", "A").header.rcode == RCODE.NXDOMAIN

    def test_forward_to_upstream(self, dns: DnsServer) -> None:
        """Other names go to the upstream resolver (a local fake here)."""
        r = ask(dns, "www.example.org", "A")
        assert [str(a.rdata) for a in r.rr] == ["192.0.2.1"]
        assert dns.forwarded == 1

    def test_failed_forward_is_servfail(self) -> None:
        """An upstream that does not answer gives SERVFAIL within the forward timeout."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.55", 0))
            server = DnsServer("127.0.0.54", 0, upstreams=[silent.getsockname()],
                               forward_timeout=0.3)
            try:
                r = ask(server, "www.example.org", "A")
                assert r.header.rcode == RCODE.SERVFAIL
            finally:
                server.close()


DNS_IP = "10.96.200.53"


def test_pod_resolves_service_names(boxes: Callable[..., Box]) -> None:
    """A container with the cluster DNS and Kubernetes' search list resolves `web` and its FQDN."""
    with proxy_lock():
        _pod_resolves(boxes)


def _pod_resolves(boxes: Callable[..., Box]) -> None:
    proxy = ServiceProxy("local", "userspace")
    proxy.update(ServiceTable(TABLE.services, (DNS_IP,)))
    server = DnsServer(DNS_IP, 53, upstreams=[])
    server.update(TABLE)
    try:
        box = boxes("sleep 300", "--dns", DNS_IP,
                    "--dns-search", "default.svc.cluster.local",
                    "--dns-search", "svc.cluster.local", "--dns-search", "cluster.local",
                    "--dns-opt", "ndots:5")
        for name in ("web", "web.default.svc.cluster.local"):
            out = box.exec(f"nslookup {name}")
            assert "10.96.200.20" in out, out
    finally:
        server.close()
        proxy.cleanup()
    assert DNS_IP not in hostnet.owned_addresses()
