"""The service proxy against a real engine: both modes, TCP and UDP, affinity, NodePort, updates."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.network import hostnet
from reconciler.network.model import Endpoint, ServiceEntry, ServicePort, ServiceTable
from reconciler.network.proxy import ServiceProxy
from tests.integration.network.conftest import Box, http_server, wait_port
from tests.support.machine_lock import MACHINE_NETWORK, proxy_lock

pytestmark = [pytest.mark.docker, MACHINE_NETWORK]

CIP = "10.96.200.10"
NODE = "local"
UDP_ECHO = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',5353))\n"
    "while True:\n"
    "    d,a=s.recvfrom(65535);s.sendto(sys.argv[1].encode()+b':'+d,a)\n"
)


def service(*eps: Endpoint, port: int = 80, proto: str = "TCP", node_port: int = 0,
            affinity: bool = False, name: str = "web", ip: str = CIP) -> ServiceEntry:
    sp = ServicePort(port, proto, "p", node_port, tuple(eps))  # type: ignore[arg-type]
    return ServiceEntry("default", name, "NodePort" if node_port else "ClusterIP", ip, (sp,),
                        session_affinity="ClientIP" if affinity else "None")


def get(ip: str, port: int, timeout: float = 5) -> str:
    """An HTTP/1.0 GET; the body's last line (the backend's name)."""
    with socket.create_connection((ip, port), timeout=timeout) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode().strip().splitlines()[-1]


@pytest.fixture(params=["iptables", "userspace"])
def proxy(request: pytest.FixtureRequest) -> Iterator[ServiceProxy]:
    with proxy_lock():
        yield from _proxy(request)


def _proxy(request: pytest.FixtureRequest) -> Iterator[ServiceProxy]:
    before = hostnet.owned_addresses()
    p = ServiceProxy(NODE, request.param, udp_idle_timeout=2)
    if request.param == "iptables" and p.mode != "iptables":
        pytest.skip(f"iptables unavailable: {p.fallback_reason}")
    yield p
    p.cleanup()
    assert hostnet.owned_addresses() == before - {CIP}
    save = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert "RECONCILER-" not in save, "rules left behind"


@pytest.fixture
def two_web(boxes: Callable[..., Box]) -> list[Box]:
    web = [boxes(http_server(f"web-{i}")) for i in range(2)]
    for b in web:
        wait_port(b.ip, 8080)
    return web


class TestTcpService:
    def test_spread_from_host_and_container(self, proxy: ServiceProxy, two_web: list[Box],
                                            boxes: Callable[..., Box]) -> None:
        """A cluster IP reaches both backends, from the host and from another container."""
        proxy.update(ServiceTable.of([service(*(Endpoint(b.ip, 8080, NODE) for b in two_web))]))
        seen = {get(CIP, 80) for _ in range(30)}
        assert seen == {"web-0", "web-1"}
        client = boxes("sleep 300")
        out = client.exec(
            f"for i in $(seq 20); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {CIP} 80"
            " | tail -1; done"
        )
        assert set(out.split()) == {"web-0", "web-1"}

    def test_affinity_sticks(self, proxy: ServiceProxy, two_web: list[Box]) -> None:
        """sessionAffinity ClientIP sends every connection of a client to one backend."""
        eps = [Endpoint(b.ip, 8080, NODE) for b in two_web]
        proxy.update(ServiceTable.of([service(*eps, affinity=True)]))
        assert len({get(CIP, 80) for _ in range(20)}) == 1

    def test_node_port_on_loopback(self, proxy: ServiceProxy, two_web: list[Box]) -> None:
        """A NodePort answers on 127.0.0.1."""
        proxy.update(ServiceTable.of([service(Endpoint(two_web[0].ip, 8080, NODE),
                                              node_port=30999)]))
        assert get("127.0.0.1", 30999) == "web-0"

    def test_two_services_same_port(self, proxy: ServiceProxy, two_web: list[Box]) -> None:
        """Two services on the same port, different cluster IPs, reach their own backends."""
        other = "10.96.200.11"
        proxy.update(ServiceTable.of([
            service(Endpoint(two_web[0].ip, 8080, NODE)),
            service(Endpoint(two_web[1].ip, 8080, NODE), name="api", ip=other),
        ]))
        assert {get(CIP, 80), get(other, 80)} == {"web-0", "web-1"}
        proxy.update(ServiceTable())
        assert other not in hostnet.owned_addresses()

    def test_update_keeps_established_connection(self, proxy: ServiceProxy,
                                                 boxes: Callable[..., Box]) -> None:
        """Replacing the endpoints does not cut a connection opened before."""
        # A line echo server: each connection stays open until the client closes.
        echo = [boxes("nc -ll -p 7000 -e cat") for _ in range(2)]
        for b in echo:
            wait_port(b.ip, 7000)
        proxy.update(ServiceTable.of([service(Endpoint(echo[0].ip, 7000, NODE), port=7000)]))
        with socket.create_connection((CIP, 7000), timeout=5) as s:
            s.sendall(b"one\n")
            assert s.recv(100) == b"one\n"
            proxy.update(ServiceTable.of([service(Endpoint(echo[1].ip, 7000, NODE), port=7000)]))
            s.sendall(b"two\n")
            assert s.recv(100) == b"two\n"


class TestUserspaceOnly:
    def test_refused_backend_is_skipped(self, two_web: list[Box]) -> None:
        """A backend that refuses is retried on another; no client sees the refusal."""
        p = ServiceProxy(NODE, "userspace")
        try:
            dead = Endpoint(two_web[0].ip, 9, NODE)  # nothing listens on port 9
            p.update(ServiceTable.of([service(dead, Endpoint(two_web[1].ip, 8080, NODE))]))
            assert {get(CIP, 80) for _ in range(10)} == {"web-1"}
            assert p.stats()["default/web:p/TCP"].refused >= 1
            assert p.stats()["default/web:p/TCP"].bytes_out > 0
        finally:
            p.cleanup()


@pytest.fixture
def udp_backends(boxes: Callable[..., Box]) -> Iterator[list[Box]]:
    """Two containers with a UDP echo server in their network namespace (busybox nc has no -u)."""
    made = [boxes("sleep 300") for _ in range(2)]
    procs = []
    for i, b in enumerate(made):
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", b.id],
                             capture_output=True, text=True, check=True).stdout.strip()
        procs.append(subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable,
                                       "-c", UDP_ECHO, f"udp-{i}"]))
    time.sleep(0.5)
    yield made
    for proc in procs:
        proc.kill()
        proc.wait()


class TestUdpService:
    def test_echo_through_proxy(self, proxy: ServiceProxy, udp_backends: list[Box]) -> None:
        """UDP datagrams reach an echo backend through the cluster IP, from several clients."""
        eps = [Endpoint(b.ip, 5353, NODE) for b in udp_backends]
        proxy.update(ServiceTable.of([service(*eps, port=53, proto="UDP")]))
        seen = set()
        for _ in range(12):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(3)
                s.sendto(b"ping", (CIP, 53))
                data, addr = s.recvfrom(100)
                assert addr == (CIP, 53)
                name, _, body = data.partition(b":")
                assert body == b"ping"
                seen.add(name)
        assert seen == {b"udp-0", b"udp-1"}


def test_proxy_command_help(tmp_path: Path) -> None:
    """`reconciler proxy --help` runs (the command is wired into the CLI)."""
    exe = Path(sys.executable).with_name("reconciler")
    out = subprocess.run([str(exe), "proxy", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--node" in out.stdout
