"""Docker hosts behind tcp:// with TLS client certificates (and ssh://): runtime, service, CLI.

The engine is the third test host (scripts/hostc.sh, fixture `hostc`): a dockerd
in network namespace hostc listening on tcp://10.251.0.2:2376 with --tlsverify,
and an sshd there whose key runs `docker system dial-stdio` on that engine.
Every client here is built from a NodeRecord (or a Node manifest), as the
service builds them.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from reconciler.api.records import NodeRecord
from reconciler.runtime.types import HostUnreachable, PodSync
from tests.conftest import TEST_LABEL, TlsHost, remove_labelled
from tests.e2e.service import RECONCILER, ServiceRun, remove_all, wait_until
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker

HTTPD = ["sh", "-c", "mkdir -p /www; hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]


def tls_node(host: TlsHost, tls: dict[str, Any] | None = None) -> NodeRecord:
    return NodeRecord(name="tlshost", engine_url=host.url, address=host.address,
                      created_at=datetime.now(UTC), tls=host.tls() if tls is None else tls)


def transport_node(host: TlsHost, transport: str, monkeypatch: pytest.MonkeyPatch
                   ) -> NodeRecord:
    """The TLS host as a NodeRecord over tcp:// with TLS, or over ssh:// (skipped without sshd)."""
    if transport == "tls":
        return tls_node(host)
    if not host.ssh_bin:
        pytest.skip("no sshd in hostc: install openssh-server (scripts/hostc.sh starts it)")
    # docker-py runs plain `ssh`: the one first on PATH carries the key and known_hosts.
    monkeypatch.setenv("PATH", f"{host.ssh_bin}:{os.environ['PATH']}")
    return NodeRecord(name="sshhost", engine_url=f"ssh://root@{host.address}",
                      address=host.address, created_at=datetime.now(UTC))


def running(result: PodSync) -> bool:
    return result.phase == "Running" and all(c.state == "running" for c in result.containers)


@pytest.fixture
def hostc_clean(hostc: TlsHost, test_prefix: str) -> Iterator[TlsHost]:
    """The TLS host; this test's containers on it are removed afterwards."""
    yield hostc
    remove_labelled(hostc.socket_url, [f"{TEST_LABEL}=1", f"io.reconciler.prefix={test_prefix}"])


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CA of its own and a client certificate it signed: valid TLS, but not the engine's CA."""
    d = tmp_path_factory.mktemp("rogue-tls")

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca-key.pem")
    ssl("req", "-x509", "-new", "-key", "ca-key.pem", "-subj", "/CN=rogue", "-days", "2",
        "-out", "ca.pem")
    ssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem")
    ssl("req", "-new", "-key", "key.pem", "-subj", "/CN=rogue-client", "-out", "c.csr")
    (d / "ext").write_text("extendedKeyUsage=clientAuth\n")
    ssl("x509", "-req", "-in", "c.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
        "-CAcreateserial", "-days", "2", "-extfile", "ext", "-out", "cert.pem")
    return {"ca": str(d / "ca.pem"), "cert": str(d / "cert.pem"), "key": str(d / "key.pem")}


TRANSPORTS = ["tls", "ssh"]


class TestTlsEngine:
    @pytest.mark.parametrize("transport", TRANSPORTS)
    def test_heartbeat_reports_the_engines_facts(
        self, transport: str, hostc_clean: TlsHost, harness_factory: Callable[..., Harness],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Over TLS (or ssh) the heartbeat reports what the engine's own socket reports."""
        h = harness_factory(transport_node(hostc_clean, transport, monkeypatch))
        info = h.agent.heartbeat()
        truth = docker.DockerClient(base_url=hostc_clean.socket_url, version="1.41")
        try:
            facts = truth.api.info()
        finally:
            truth.close()
        assert (info.cpus, info.memory, info.engine_version, info.kernel) == (
            facts["NCPU"], facts["MemTotal"], facts["ServerVersion"], facts["KernelVersion"])
        assert h.agent.engine.api.base_url == {"tls": "https://10.251.0.2:2376",
                                               "ssh": "http+docker://ssh"}[transport]

    @pytest.mark.parametrize("transport", TRANSPORTS)
    def test_pod_runs_and_its_port_answers_at_the_hosts_address(
        self, transport: str, hostc_clean: TlsHost, harness_factory: Callable[..., Harness],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """sync_pod over TLS (or ssh) runs busybox httpd; its port answers at 10.251.0.2."""
        h = harness_factory(transport_node(hostc_clean, transport, monkeypatch))
        pod = make_pod("tlsweb", {"containers": [{
            "name": "web", "image": BUSYBOX, "command": HTTPD,
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        }]})
        result = h.converge(pod, lambda r: running(r) and r.conditions[2].status, timeout=30)
        assert result.host_ip == hostc_clean.address
        conn = http.client.HTTPConnection(hostc_clean.address, result.ports["8080/TCP"],
                                          timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"tlsweb\n")
        finally:
            conn.close()
        h.agent.kill_pod(pod.uid, 0)
        assert pod.uid not in h.agent.list_pods()

    @pytest.mark.parametrize("client", ["no-client-cert", "rogue-client-cert", "rogue-ca",
                                        "no-tls"])
    def test_untrusted_client_is_unreachable_with_a_tls_reason(
        self, client: str, hostc_clean: TlsHost, rogue: dict[str, str],
        harness_factory: Callable[..., Harness],
    ) -> None:
        """A client the engine refuses (or that refuses the engine) is HostUnreachable: TLS."""
        tls = {
            "no-client-cert": {"ca": hostc_clean.ca, "verify": True},
            "rogue-client-cert": {"ca": hostc_clean.ca, "cert": rogue["cert"],
                                  "key": rogue["key"], "verify": True},
            "rogue-ca": {"ca": rogue["ca"], "cert": hostc_clean.cert, "key": hostc_clean.key,
                         "verify": True},
            "no-tls": {},
        }[client]
        h = harness_factory(tls_node(hostc_clean, tls))
        with pytest.raises(HostUnreachable) as caught:
            h.agent.heartbeat()
        assert "TLS" in caught.value.reason
        with pytest.raises(HostUnreachable):
            h.agent.list_pods()


def node_manifest(host: TlsHost) -> str:
    return json.dumps({
        "apiVersion": "reconciler.dev/v1", "kind": "Node", "metadata": {"name": "tlshost"},
        "spec": {"engine": host.url, "address": host.address,
                 "tls": {"ca": host.ca, "cert": host.cert, "key": host.key}}})


POD = json.dumps({
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tlspod"},
    "spec": {"nodeSelector": {"kubernetes.io/hostname": "tlshost"},
             "terminationGracePeriodSeconds": 1,
             "containers": [{"name": "main", "image": BUSYBOX, "command": [
                 "sh", "-c", "echo hello-over-tls; exec sleep 3600"]}]}})


@pytest.fixture
def tls_service(hostc: TlsHost, tmp_path: Path) -> Iterator[ServiceRun]:
    """`reconciler run` (no proxy) whose only node is the TLS host; its containers removed."""
    run = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
    run.write("node.yaml", node_manifest(hostc))
    try:
        yield run.start()
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        remove_all(run.prefix, hostc.socket_url)


class TestTlsService:
    @pytest.mark.timeout(150)
    def test_service_runs_a_pod_on_a_tls_node_and_the_cli_reaches_it(
        self, tls_service: ServiceRun, hostc: TlsHost
    ) -> None:
        """A declared TLS node is Ready, its pod Running; logs and exec (-i too) reach it."""
        run = tls_service
        wait_until(lambda: " Ready " in run.cli("get", "nodes").stdout, 30,
                   what="node tlshost Ready")
        lines = run.cli("get", "nodes").stdout.splitlines()
        assert [ln.split()[:2] for ln in lines[1:]] == [["tlshost", "Ready"]]
        run.write("pod.yaml", POD)
        wait_until(lambda: run.running(), 60, what=f"tlspod Running\n{run.output()}")
        assert run.pods()[0]["spec"]["nodeName"] == "tlshost"
        wait_until(lambda: "hello-over-tls" in run.cli("logs", "tlspod", check=False).stdout,
                   10, what="logs over TLS")
        out = exec_cli(run, "tlspod", "sh", "-c", "echo $((6*7)); hostname")
        assert (out.returncode, out.stdout.split()) == (0, ["42", "tlspod"]), out.stderr
        # -i hands over to the docker CLI, with the node's TLS flags.
        piped = exec_cli(run, "tlspod", "sh", "-c", "read x; echo got-$x", stdin="tls\n")
        assert (piped.returncode, piped.stdout.strip()) == (0, "got-tls"), piped.stderr


def exec_cli(run: ServiceRun, pod: str, *cmd: str, stdin: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    """`reconciler exec --state STATE [-i] POD -- CMD...` (-i when there is stdin to give)."""
    flags = ["-i"] if stdin is not None else []
    return subprocess.run(
        [RECONCILER, "exec", "--state", str(run.state), *flags, pod, "--", *cmd],
        input=stdin, capture_output=True, text=True, timeout=30, check=False)
