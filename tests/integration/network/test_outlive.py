"""What a proxy installed outlives it: a successor takes over without a gap; cleanup removes it.

Real kernel (iptables, addresses on lo), a real backend container, the real
detached DNS server (reconciler.network.dnsd) in its own process. Each test
uses its own run folder (RECONCILER_RUN_DIR) and holds the machine lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dnslib import DNSRecord

from reconciler.network import dnsproc, hostnet
from reconciler.network.dnsproc import DetachedDns
from reconciler.network.model import Endpoint, ServiceTable
from reconciler.network.proxy import ServiceProxy
from tests.integration.network.conftest import Box, http_server, wait_port
from tests.integration.network.test_proxy import get, service
from tests.support.machine_lock import MACHINE_NETWORK, proxy_lock

pytestmark = [pytest.mark.docker, MACHINE_NETWORK]

CIP = "10.96.200.10"
DNS_ADDR = "127.0.0.78"
DNS_PORT = 5398
TABLE = ServiceTable.of([service(Endpoint("172.17.0.250", 80, "local"))])


@pytest.fixture
def rundir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A run folder of the test's own, under the machine lock; every DNS server in it ended."""
    folder = tmp_path / "run"
    monkeypatch.setenv("RECONCILER_RUN_DIR", str(folder))
    with proxy_lock():
        try:
            yield folder
        finally:
            if folder.exists():
                dnsproc.stop_all(folder)


def iptables_save() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True).stdout


def ask(name: str = "web.default.svc.cluster.local", port: int = DNS_PORT) -> list[str]:
    reply = DNSRecord.parse(DNSRecord.question(name, "A").send(DNS_ADDR, port, timeout=2))
    return [str(rr.rdata) for rr in reply.rr]


def hammer(action: Callable[[], object], probe: Callable[[], bool]) -> tuple[int, int]:
    """Run `probe` without pause in a thread while `action` runs; (probes, failures)."""
    done = threading.Event()
    counts = [0, 0]

    def loop() -> None:
        while not done.is_set():
            counts[0] += 1
            try:
                ok = probe()
            except OSError:
                ok = False
            counts[1] += 0 if ok else 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(0.3)
    try:
        action()
        time.sleep(0.3)
    finally:
        done.set()
        thread.join(10)
    return counts[0], counts[1]


class TestServiceProxyHandover:
    def test_rules_outlive_close_and_successor_has_no_gap(
        self, rundir: Path, boxes: Callable[..., Box]
    ) -> None:
        """After close() the cluster IP still answers; a successor's updates drop no request."""
        web = boxes(http_server("web-0"))
        wait_port(web.ip, 8080)
        table = ServiceTable.of([service(Endpoint(web.ip, 8080, "local"))])
        first = ServiceProxy("local", "iptables")
        if first.mode != "iptables":
            pytest.skip(f"iptables unavailable: {first.fallback_reason}")
        first.update(table)
        first.close()
        try:
            assert CIP in hostnet.owned_addresses() and "RECONCILER-SVC-" in iptables_save()
            assert get(CIP, 80) == "web-0"
            successor = ServiceProxy("local", "iptables")

            def take_over() -> None:
                for _ in range(10):
                    successor.update(table)

            probes, failures = hammer(take_over, lambda: get(CIP, 80, timeout=2) == "web-0")
            assert probes > 10 and failures == 0
        finally:
            ServiceProxy("local", "iptables").cleanup()
        assert CIP not in hostnet.owned_addresses() and "RECONCILER-" not in iptables_save()

    def test_userspace_successor_clears_iptables_rules(
        self, rundir: Path, boxes: Callable[..., Box]
    ) -> None:
        """A userspace successor removes the DNAT rules an iptables predecessor left."""
        web = boxes(http_server("web-0"))
        wait_port(web.ip, 8080)
        table = ServiceTable.of([service(Endpoint(web.ip, 8080, "local"))])
        first = ServiceProxy("local", "iptables")
        if first.mode != "iptables":
            pytest.skip(f"iptables unavailable: {first.fallback_reason}")
        first.update(table)
        first.close()
        successor = ServiceProxy("local", "userspace")
        try:
            successor.update(table)
            assert "RECONCILER-" not in iptables_save()
            assert get(CIP, 80) == "web-0"
            assert successor.stats()["default/web:p/TCP"].connections == 1
        finally:
            successor.cleanup()


class TestDetachedDns:
    def test_successor_adopts_the_running_server(self, rundir: Path) -> None:
        """A second handle finds the server by its pidfile: same process, answers kept."""
        dns = DetachedDns(DNS_ADDR, DNS_PORT)
        dns.update(TABLE)
        wait_for(lambda: ask() == [CIP])
        dns.close()
        again = DetachedDns(DNS_ADDR, DNS_PORT)
        assert again.adopted and again.pid == dns.pid
        assert ask() == [CIP]
        again.stop()
        assert not dnsproc.alive(dns.pid)

    def test_server_of_other_code_is_replaced_without_a_gap(
        self, rundir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A server of another version is replaced (SO_REUSEPORT): no query goes unanswered."""
        old = DetachedDns(DNS_ADDR, DNS_PORT)
        old.update(TABLE)
        wait_for(lambda: ask() == [CIP])
        monkeypatch.setattr(dnsproc, "code_version", lambda: "other-code")
        holder: list[DetachedDns] = []
        probes, failures = hammer(lambda: holder.append(DetachedDns(DNS_ADDR, DNS_PORT)),
                                  lambda: ask() == [CIP])
        new = holder[0]
        assert new.pid != old.pid and not new.adopted
        assert not dnsproc.alive(old.pid)
        assert probes > 10 and failures == 0

    def test_server_of_another_domain_is_replaced(self, rundir: Path) -> None:
        """A changed cluster domain is not adopted: the server is replaced."""
        old = DetachedDns(DNS_ADDR, DNS_PORT)
        new = DetachedDns(DNS_ADDR, DNS_PORT, domain="example.internal")
        assert new.pid != old.pid and not new.adopted and not dnsproc.alive(old.pid)
        new.update(ServiceTable.of([service(Endpoint("172.17.0.250", 80, "local"))]))
        wait_for(lambda: ask("web.default.svc.example.internal") == [CIP])

    def test_server_whose_pidfile_was_lost_is_replaced(self, rundir: Path) -> None:
        """A server whose pidfile is gone is found by its command line and replaced."""
        old = DetachedDns(DNS_ADDR, DNS_PORT)
        old.pidfile.unlink()
        new = DetachedDns(DNS_ADDR, DNS_PORT)
        assert new.pid != old.pid and not dnsproc.alive(old.pid)
        assert dnsproc.servers_of(new.pidfile) == [new.pid]

    def test_a_killed_server_is_started_again(self, rundir: Path) -> None:
        """The next update after the server died starts a new one with the table."""
        dns = DetachedDns(DNS_ADDR, DNS_PORT)
        os.kill(dns.pid, signal.SIGKILL)
        wait_for(lambda: not dnsproc.alive(dns.pid))
        dead = dns.pid
        dns.update(TABLE)
        assert dns.pid != dead and dnsproc.alive(dns.pid)
        wait_for(lambda: ask() == [CIP])


class TestServiceRangeGuard:
    def test_unconfigured_cluster_ip_is_unreachable(self, rundir: Path) -> None:
        """Over the service range, an address not on lo is unreachable; one on lo is local."""
        hostnet.guard_service_range("10.96.0.0/16")
        try:
            hostnet.sync_addresses({CIP})
            other = route_get("10.96.254.254")
            assert other.returncode != 0 and "No route to host" in other.stderr
            assert route_get(CIP).stdout.startswith(f"local {CIP}")
        finally:
            hostnet.sync_addresses(set())
            hostnet.remove_guards()
        assert subprocess.run(["ip", "-j", "route", "show", "proto", hostnet.GUARD_PROTO],
                              capture_output=True, text=True).stdout.strip() in ("", "[]")


class TestCleanupCommand:
    def test_cleanup_removes_rules_addresses_and_dns(self, rundir: Path) -> None:
        """`reconciler proxy --cleanup` removes our chains, lo addresses, range route, DNS."""
        proxy = ServiceProxy("local", "iptables")
        if proxy.mode != "iptables":
            pytest.skip(f"iptables unavailable: {proxy.fallback_reason}")
        proxy.update(TABLE)
        proxy.close()
        hostnet.guard_service_range("10.96.0.0/16")
        dns = DetachedDns(DNS_ADDR, DNS_PORT)
        exe = Path(sys.executable).with_name("reconciler")
        out = subprocess.run([str(exe), "proxy", "--cleanup"], capture_output=True, text=True,
                             env={**os.environ, "RECONCILER_RUN_DIR": str(rundir)}, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "RECONCILER-" not in iptables_save()
        assert CIP not in hostnet.owned_addresses()
        assert not dnsproc.alive(dns.pid) and not dns.pidfile.exists()
        assert "10.96.0.0/16" not in subprocess.run(
            ["ip", "route", "show", "proto", hostnet.GUARD_PROTO], capture_output=True,
            text=True).stdout


def route_get(ip: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True)


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
