"""Fault suite: the data plane outlives the control plane (issue 14, item 7).

The real service (`reconciler run`, iptables proxy, the local engine) runs an RC
of 2 busybox httpd pods behind a Service. A client in the test process sends
HTTP requests to the cluster IP and asks the cluster DNS (10.96.0.10) for the
service's name, without pause, while the service is stopped and started again.
Every request and every lookup must succeed: the NAT rules, the cluster IPs on
lo and the detached DNS server stay in force while no service runs, and the
successor takes them over (the DNS server is adopted, not restarted). The same
holds for `reconciler proxy`, the per-host agent, stopped and started on its own.
"""

from __future__ import annotations

import signal
import subprocess
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
from tests.e2e.service import RECONCILER, ServiceRun, remove_all, wait_until
from tests.e2e.services_kit import cluster_ip, endpoint_ips, tcp_get, web_rc, web_svc
from tests.support.machine_lock import MACHINE_NETWORK, proxy_lock

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300), MACHINE_NETWORK]

DNS_IP = "10.96.0.10"
LOCAL_NODE = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: local}
spec: {engine: "unix:///var/run/docker.sock"}
"""
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


def _deploy(run: ServiceRun) -> None:
    """web (2 replicas) behind a ClusterIP Service."""
    run.write("web-svc.yaml", web_svc("ClusterIP"))
    run.write("web-rc.yaml", web_rc(2))


def _answering(run: ServiceRun) -> str:
    """web's cluster IP, once both replicas answer on it."""
    cip = cluster_ip(run, "web")
    wait_until(lambda: len(endpoint_ips(run, "web")) == 2, 90, what="2 ready endpoints")
    names = set(_names(run))
    seen: set[str] = set()

    def both_answer() -> bool:
        if cip not in hostnet.local_addresses():
            return False
        seen.add(tcp_get(cip, 80))
        return seen >= names

    wait_until(both_answer, 30, interval=0.05, what="both replicas answering")
    return cip


@pytest.fixture
def web(tmp_path: Path, docker_client: docker.DockerClient,
        local_images: None) -> Iterator[tuple[ServiceRun, str]]:
    """The service with web (2 replicas) answering on its cluster IP; cleaned up after."""
    run = ServiceRun(tmp_path, args=("--proxy-mode", "iptables"),
                     extra_env={"RECONCILER_LEASE_TTL": "6s", "RECONCILER_LEASE_RENEW": "1s"})
    try:
        _deploy(run)
        run.start()
        cip = _answering(run)
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


class Agent:
    """`reconciler proxy --node local` as a process of its own (the service runs no proxy)."""

    def __init__(self, state: Path, log: Path) -> None:
        self.state, self.log = state, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [RECONCILER, "proxy", "--node", "local", "--state", str(self.state)],
                stdout=out, stderr=subprocess.STDOUT)
        started = self.log.read_text().count("proxy for node local") + 1
        wait_until(lambda: self.log.read_text().count("proxy for node local") >= started
                   or self.proc is None or self.proc.poll() is not None, 30,
                   what="the proxy agent")
        assert self.proc.poll() is None, self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


@pytest.fixture
def agent_web(tmp_path: Path, docker_client: docker.DockerClient,
              local_images: None) -> Iterator[tuple[ServiceRun, Agent, str]]:
    """The service without a proxy, `reconciler proxy` beside it, web answering."""
    run = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
    agent = Agent(run.state, tmp_path / "agent.log")
    with proxy_lock():
        try:
            run.write("nodes.yaml", LOCAL_NODE)
            _deploy(run)
            run.start()
            agent.start()
            cip = _answering(run)
            yield run, agent, cip
        finally:
            agent.stop()
            if run.proc is not None:
                run.stop()
            subprocess.run([RECONCILER, "proxy", "--cleanup"], capture_output=True,
                           timeout=60, check=False)
            remove_all(run.prefix)


class TestServiceRestartUnderLoad:
    def test_sigterm_restart_keeps_traffic_and_dns(self, web: tuple[ServiceRun, str]) -> None:
        """SIGTERM and restart the service under load: 0 failed requests, 0 failed lookups."""
        run, cip = web
        load = restart_under_load(run, cip, signal.SIGTERM)
        assert load.failures == []
        assert load.requests >= 50 and load.lookups >= 50
        assert len(load.backends) == 2


class TestProxyAgentRestartUnderLoad:
    def test_agent_kill9_keeps_traffic_and_dns(
        self, agent_web: tuple[ServiceRun, Agent, str]
    ) -> None:
        """`reconciler proxy` killed -9 and started again under load: 0 failures."""
        # SIGTERM runs the same close() as the service's stop (tested above); kill -9
        # is the harder case: nothing of the agent runs at its end.
        _, agent, cip = agent_web
        sig = signal.SIGKILL
        before = dns_pid()
        load = Load(cip).start()
        try:
            time.sleep(2)
            agent.stop(sig)
            time.sleep(2)
            agent.start()
            time.sleep(3)
        finally:
            load.stop()
        print(f"\nagent {signal.Signals(sig).name}: {load.requests} requests, "
              f"{load.lookups} lookups, failures {load.failures[:5]}")
        assert before and dns_pid() == before
        assert load.failures == []
        assert load.requests >= 30 and len(load.backends) == 2

    def test_kill9_restart_keeps_traffic_and_dns(self, web: tuple[ServiceRun, str]) -> None:
        """kill -9 and restart the service (it waits for the lease) under load: 0 failures."""
        run, cip = web
        load = restart_under_load(run, cip, signal.SIGKILL)
        assert load.failures == []
        assert load.requests >= 50 and load.lookups >= 50
        assert len(load.backends) == 2
