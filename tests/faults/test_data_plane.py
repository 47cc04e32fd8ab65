"""Fault suite: the data plane outlives the control plane (issue 14, item 7).

The real service (`reconciler run`, iptables proxy, the local engine) runs an RC
of 2 busybox httpd pods behind a Service. A client in the test process sends
HTTP requests to the cluster IP and asks the cluster DNS (10.96.0.10) for the
service's name, without pause, while the service is stopped and started again.
Every request and every lookup must succeed: the NAT rules, the cluster IPs on
lo and the detached DNS server stay in force while no service runs, and the
successor takes them over (the DNS server is adopted, not restarted).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dnslib
import docker
import pytest

from reconciler.network import hostnet
from reconciler.network.dnsd import read_pidfile
from reconciler.network.hostnet import netns_id, run_dir
from tests.e2e.service import ServiceRun, remove_all, wait_until
from tests.e2e.services_kit import cluster_ip, endpoint_ips, tcp_get, web_rc, web_svc

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

DNS_IP = "10.96.0.10"
FQDN = "web.default.svc.cluster.local"


@dataclass
class Load:
    """Requests to the cluster IP and DNS lookups, one after the other, until stopped."""

    cip: str
    requests: int = 0
    lookups: int = 0
    failures: list[str] = field(default_factory=list)
    backends: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.requests += 1
            # The network rule: a cluster IP is contacted only while it is on a local interface.
            if self.cip not in hostnet.local_addresses():
                self.failures.append(f"request {self.requests}: {self.cip} not on lo")
                got = ""
            else:
                got = tcp_get(self.cip, 80, timeout=2.0)
            if got.startswith("web-"):
                self.backends.add(got)
            elif got:
                self.failures.append(f"request {self.requests}: not a replica: {got!r}")
            else:
                self.failures.append(f"request {self.requests} at {time.time():.3f}")
            self.lookups += 1
            try:
                reply = dnslib.DNSRecord.parse(
                    dnslib.DNSRecord.question(FQDN, "A").send(DNS_IP, 53, timeout=2.0))
                answers = [str(rr.rdata) for rr in reply.rr]
                if answers != [self.cip]:
                    self.failures.append(f"lookup {self.lookups}: {answers}")
            except (OSError, ValueError) as exc:
                self.failures.append(f"lookup {self.lookups} at {time.time():.3f}: {exc!r}")
            time.sleep(0.02)


def dns_pid() -> int:
    """The pid of the detached DNS server of this host's 10.96.0.10:53."""
    info = read_pidfile(run_dir() / f"dns-{netns_id()}-{DNS_IP}-53.pid")
    return info.pid if info is not None else 0


@pytest.fixture
def web(tmp_path: Path, docker_client: docker.DockerClient,
        local_images: None) -> Iterator[tuple[ServiceRun, str]]:
    """The service with web (2 replicas) answering on its cluster IP; cleaned up after."""
    run = ServiceRun(tmp_path, args=("--proxy-mode", "iptables"),
                     extra_env={"RECONCILER_LEASE_TTL": "6s", "RECONCILER_LEASE_RENEW": "1s"})
    try:
        run.write("web-svc.yaml", web_svc("ClusterIP"))
        run.write("web-rc.yaml", web_rc(2))
        run.start()
        cip = cluster_ip(run, "web")
        wait_until(lambda: len(endpoint_ips(run, "web")) == 2, 90, what="2 ready endpoints")
        names = set(_names(run))
        seen: set[str] = set()

        def both_answer() -> bool:
            assert cip in hostnet.local_addresses()
            seen.add(tcp_get(cip, 80))
            return seen >= names

        wait_until(both_answer, 30, interval=0.05, what="both replicas answering")
        yield run, cip
    finally:
        if run.proc is not None:
            run.stop()  # also removes the rules, addresses and DNS server
        remove_all(run.prefix)


def _names(run: ServiceRun) -> list[str]:
    names = [p["metadata"]["name"] for p in run.running()]
    return [n for n in names if n.startswith("web-")]


def restart_under_load(run: ServiceRun, cip: str, sig: int) -> Load:
    """Stop the service with `sig`, start it again, keep the load up until the new one has
    served for a while; the load's counts."""
    before = dns_pid()
    load = Load(cip).start()
    try:
        time.sleep(2)
        run.stop(sig, keep_network=True)
        time.sleep(2)  # no service at all for a moment
        run.start(timeout=90)  # READY=1 comes after its proxy's first sync
        time.sleep(5)
    finally:
        load.stop()
    print(f"\n{signal.Signals(sig).name}: {load.requests} requests, {load.lookups} lookups, "
          f"backends {sorted(load.backends)}, failures {load.failures[:5]}")
    assert before and dns_pid() == before, "the DNS server was adopted, not replaced"
    return load


class TestServiceRestartUnderLoad:
    def test_sigterm_restart_keeps_traffic_and_dns(self, web: tuple[ServiceRun, str]) -> None:
        """SIGTERM and restart the service under load: 0 failed requests, 0 failed lookups."""
        run, cip = web
        load = restart_under_load(run, cip, signal.SIGTERM)
        assert load.failures == []
        assert load.requests >= 50 and load.lookups >= 50
        assert len(load.backends) == 2

    def test_kill9_restart_keeps_traffic_and_dns(self, web: tuple[ServiceRun, str]) -> None:
        """kill -9 and restart the service (it waits for the lease) under load: 0 failures."""
        run, cip = web
        load = restart_under_load(run, cip, signal.SIGKILL)
        assert load.failures == []
        assert load.requests >= 50 and load.lookups >= 50
        assert len(load.backends) == 2
