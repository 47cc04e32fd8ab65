"""End to end: services on the real service and engines, two hosts (issue 5).

Each test runs `reconciler run` (iptables mode unless a test says otherwise) on its
own folder; tests that use both hosts also run `reconciler proxy --node hostb`
inside hostb's network namespace, so pods there reach services too. Requests are
made from inside pods (services_kit.requests_from) and, for NodePorts, from the
root namespace.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import Host
from tests.e2e.service import RECONCILER, ServiceRun, wait_until
from tests.e2e.services_kit import (
    DEMO_BASE,
    EXTERNAL,
    HOSTB_ADDRESS,
    LAZY_POD,
    LOCAL_ADDRESS,
    NODES,
    UDP_CLIENT,
    UDP_ECHO_RC,
    HostbProxy,
    TextServer,
    client_pod,
    cluster_ip,
    dns_query,
    endpoint_ips,
    exec_argv,
    exec_out,
    http_loop,
    lag,
    pod_ip,
    pod_ready,
    pods_by_node,
    requests_from,
    service_json,
    tally,
    tcp_get,
    udp_echo,
    web_rc,
    web_svc,
)
from tests.support.machine_lock import MACHINE_NETWORK

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240), MACHINE_NETWORK]


def start(svc_factory: list[ServiceRun], tmp_path: Path, mode: str = "iptables") -> ServiceRun:
    run = ServiceRun(tmp_path, args=("--proxy-mode", mode))
    svc_factory.append(run)
    return run


@pytest.fixture
def hostb_proxy() -> Iterator[list[HostbProxy]]:
    """A list to append the HostbProxy to; stopped after the test."""
    proxies: list[HostbProxy] = []
    yield proxies
    for p in proxies:
        p.stop()


def two_host_web(svc_factory: list[ServiceRun], tmp_path: Path, proxies: list[HostbProxy],
                 mode: str, replicas: int = 4, svc_type: str = "NodePort",
                 rc: str = "") -> ServiceRun:
    """Service `web` over an RC (`rc`, default web_rc) spread on both hosts, one client pod
    per host, both proxies."""
    run = start(svc_factory, tmp_path, mode)
    run.write("nodes.yaml", NODES)
    run.write("web-svc.yaml", web_svc(svc_type))
    run.start()
    proxies.append(HostbProxy(run.state, tmp_path / "proxy-hostb.log", mode))
    cluster_ip(run, "web")
    # Written after the service has its address: the env vars go to pods started after it.
    run.write("web-rc.yaml", rc or web_rc(replicas))
    run.write("clients.yaml", client_pod("client-a", "local") + "---\n"
              + client_pod("client-b", "hostb"))
    wait_until(lambda: len(pods_by_node(run, "web-")) == replicas
               and len(pods_by_node(run, "client-")) == 2, 90, what="web replicas and clients")
    wait_until(lambda: len(endpoint_ips(run, "web")) == replicas, 10, what="all endpoints")
    # The proxies follow the Endpoints through the store's change feed: the first answer
    # may still lag them by a moment.
    for client in ("client-a", "client-b"):
        wait_until(lambda c=client: requests_from(run, c, "web 80", 1)["FAIL"] == 0, 15,  # type: ignore[misc]
                   what=f"a first answer from web in {client}")
    return run


@pytest.mark.twohosts
class TestTwoHostService:
    @pytest.mark.parametrize("mode", ["iptables", "userspace"])
    def test_names_env_and_spread_from_both_hosts(
        self, svc_factory: list[ServiceRun], tmp_path: Path, hostb: Host,
        hostb_proxy: list[HostbProxy], mode: str,
    ) -> None:
        """web, its FQDN and $WEB_SERVICE_HOST:PORT reach every replica on both hosts, from both."""
        run = two_host_web(svc_factory, tmp_path, hostb_proxy, mode)
        placed = pods_by_node(run, "web-")
        assert set(placed.values()) == {"local", "hostb"}, f"replicas on both hosts: {placed}"
        cip = cluster_ip(run, "web")
        for client in ("client-a", "client-b"):
            seen: Counter[str] = Counter()
            for target in ("web 80", "web.default.svc.cluster.local 80",
                           "$WEB_SERVICE_HOST $WEB_SERVICE_PORT"):
                got = requests_from(run, client, target, 16)
                assert got["FAIL"] == 0, f"{client} -> {target}: {got}"
                seen += got
            print(f"\n{mode}: {client} ({'local' if client == 'client-a' else 'hostb'}) "
                  f"-> web: {dict(seen)}")
            assert set(seen) == set(placed), f"{client} spread over every replica: {seen}"

            env = dict(line.split("=", 1) for line in exec_out(run, client, "env").splitlines()
                       if "=" in line)
            assert {k: v for k, v in env.items() if k.startswith("WEB_")} == {
                "WEB_SERVICE_HOST": cip,
                "WEB_SERVICE_PORT": "80",
                "WEB_SERVICE_PORT_HTTP": "80",
                "WEB_PORT": f"tcp://{cip}:80",
                "WEB_PORT_80_TCP": f"tcp://{cip}:80",
                "WEB_PORT_80_TCP_PROTO": "tcp",
                "WEB_PORT_80_TCP_PORT": "80",
                "WEB_PORT_80_TCP_ADDR": cip,
            }
            resolv = exec_out(run, client, "cat /etc/resolv.conf")
            assert re.search(r"^nameserver 10\.96\.0\.10$", resolv, re.M), resolv
            assert re.search(r"^search default\.svc\.cluster\.local svc\.cluster\.local "
                             r"cluster\.local$", resolv, re.M), resolv
            assert re.search(r"^options ndots:5$", resolv, re.M), resolv

        # Pod to pod across hosts, by pod IP (what headless names answer): each host's
        # proxy routes to the other host's pods via that host's address.
        ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in run.running()
               if p["metadata"]["name"].startswith("web-")}
        for client, other in (("client-a", "hostb"), ("client-b", "local")):
            for name in sorted(n for n, at in placed.items() if at == other):
                got = requests_from(run, client, f"{ips[name]} 8080", 2)
                assert got == Counter({name: 2}), f"{client} -> {name} at {ips[name]}: {got}"

        # NodePort: the local proxy on 127.0.0.1, hostb's proxy on hostb's address.
        node_port = int(service_json(run, "web")["spec"]["ports"][0]["nodePort"])
        assert 30000 <= node_port <= 32767
        for host in ("127.0.0.1", HOSTB_ADDRESS):
            answers = Counter(tcp_get(host, node_port) for _ in range(12))
            print(f"{mode}: NodePort {host}:{node_port} -> {dict(answers)}")
            assert "" not in answers and set(answers) <= set(placed), answers


class TestReadinessAndDeletion:
    def test_unready_pod_gets_no_traffic_and_deletion_under_load(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """Unready: no traffic, not in endpoints; scale-down under a request stream fails none."""
        run = start(svc_factory, tmp_path)
        run.write("web-svc.yaml", web_svc())
        run.start()
        cip = cluster_ip(run, "web")

        def rc(replicas: int) -> str:
            # The drain (out of Endpoints, every proxy's acknowledgement, then the stop) is
            # bounded by the grace period, as in Kubernetes: with the kit's 1 s, a loaded
            # machine stopped pods the proxies still sent requests to.
            return web_rc(replicas).replace("terminationGracePeriodSeconds: 1",
                                            "terminationGracePeriodSeconds: 10")

        run.write("web-rc.yaml", rc(3))
        run.write("lazy.yaml", LAZY_POD)
        run.write("client.yaml", client_pod("client"))
        wait_until(lambda: len(pods_by_node(run, "web-")) == 3 and pods_by_node(run, "client"),
                   60, what="3 replicas and the client")
        wait_until(lambda: pod_ip(run, "lazy"), 30, what="the lazy pod's address")
        lazy_ip = pod_ip(run, "lazy")
        wait_until(lambda: len(endpoint_ips(run, "web")) == 3, 10, what="3 endpoints")
        wait_until(lambda: requests_from(run, "client", "web 80", 1)["FAIL"] == 0, 15,
                   what="a first answer")
        assert pod_ready(run, "lazy") is False
        assert lazy_ip not in endpoint_ips(run, "web")
        assert lazy_ip not in run.cli("get", "endpoints", "web").stdout
        got = requests_from(run, "client", "web 80", 30)
        assert got["FAIL"] == 0 and "lazy" not in got and len(got) == 3, got

        # The CLI: get svc as kubectl prints it, describe svc with its endpoints.
        lines = run.cli("get", "svc").stdout.splitlines()
        assert lines[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
        row = next(line.split() for line in lines[1:] if line.startswith("web "))
        assert row[:5] == ["web", "ClusterIP", cip, "<none>", "80/TCP"]
        described = run.cli("describe", "svc", "web").stdout
        print("\n" + described)
        assert re.search(rf"^IPs?:\s+{re.escape(cip)}$", described, re.M), described
        assert re.search(r"^Port:\s+http\s+80/TCP$", described, re.M), described
        assert re.search(r"^TargetPort:\s+http/TCP$", described, re.M), described
        eps = re.search(r"^Endpoints:\s+(\S+)$", described, re.M)
        assert eps is not None and len(eps.group(1).split(",")) == 3, described
        assert lazy_ip not in described

        # Ready: in endpoints (timed against `get pods`), then it gets traffic.
        exec_out(run, "lazy", "touch /tmp/ready")
        t_pod, t_eps = lag(lambda: pod_ready(run, "lazy"),
                           lambda: lazy_ip in endpoint_ips(run, "web"))
        print(f"ready:   get pods {t_pod:.2f}s, get endpoints {t_eps:.2f}s after touch "
              f"(endpoints {t_eps - t_pod:+.2f}s after the pod)")
        wait_until(lambda: "lazy" in requests_from(run, "client", "web 80", 12), 10,
                   what="traffic to the pod once ready")
        # Unready again: out of endpoints, and no more traffic.
        exec_out(run, "lazy", "rm /tmp/ready")
        t_pod, t_eps = lag(lambda: pod_ready(run, "lazy") is False,
                           lambda: lazy_ip not in endpoint_ips(run, "web"))
        print(f"unready: get pods {t_pod:.2f}s, get endpoints {t_eps:.2f}s after rm "
              f"(endpoints {t_eps - t_pod:+.2f}s after the pod)")
        time.sleep(1)  # the proxy applies the Endpoints from its feed within a moment
        got = requests_from(run, "client", "web 80", 20)
        assert got["FAIL"] == 0 and "lazy" not in got, got
        # Deleted while ready: out of endpoints.
        exec_out(run, "lazy", "touch /tmp/ready")
        wait_until(lambda: lazy_ip in endpoint_ips(run, "web"), 10, what="lazy ready again")
        (run.desired / "lazy.yaml").unlink()
        t_pod, t_eps = lag(lambda: pod_ready(run, "lazy") is None,
                           lambda: lazy_ip not in endpoint_ips(run, "web") and len(
                               endpoint_ips(run, "web")) == 3)
        print(f"deleted: gone from get pods {t_pod:.2f}s, endpoints without it {t_eps:.2f}s "
              "after the manifest's removal")

        # Scale 3 -> 1 under a steady stream of sequential requests: at most the
        # request in flight on each deleted pod may fail.
        stream = subprocess.Popen(
            [RECONCILER, "exec", "--state", str(run.state), "client", "--", "sh", "-c",
             http_loop("web 80", 150, pause="20000")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        run.write("web-rc.yaml", rc(1))
        out, err = stream.communicate(timeout=90)
        got = tally(out)
        print(f"scale 3 -> 1 under load: {dict(got)}")
        assert sum(got.values()) == 150, (out, err)
        assert got["FAIL"] <= 2, f"only requests in flight on the 2 deleted pods may fail: {got}"
        wait_until(lambda: len(pods_by_node(run, "web-")) == 1, 60, what="1 replica left")


class TestUdp:
    @pytest.mark.parametrize("mode", ["iptables", "userspace"])
    def test_udp_echo_through_the_proxy(self, svc_factory: list[ServiceRun], tmp_path: Path,
                                        docker_client: docker.DockerClient, mode: str) -> None:
        """Datagrams to the cluster IP reach both echo replicas, from the host and from a pod."""
        try:
            docker_client.images.get(DEMO_BASE)
        except docker.errors.ImageNotFound:
            pytest.skip(f"{DEMO_BASE} not built (scripts/build-demo-images.sh)")
        run = start(svc_factory, tmp_path, mode)
        run.write("echo.yaml", UDP_ECHO_RC.replace("IMAGE", DEMO_BASE))
        run.start()
        cip = cluster_ip(run, "echo")
        run.write("client.yaml", client_pod("client", image=DEMO_BASE))
        wait_until(lambda: len(pods_by_node(run, "echo-")) == 2 and pods_by_node(run, "client"),
                   60, what="2 echo replicas and the client")
        wait_until(lambda: len(endpoint_ips(run, "echo")) == 2, 10, what="2 endpoints")
        wait_until(lambda: udp_echo(cip, 9053, b"hello"), 15, what="a first echo")
        # From the host: each fresh socket is a new flow, so replicas alternate.
        answers = [udp_echo(cip, 9053, b"x%d" % i) for i in range(20)]
        senders = Counter(a.split()[0] for a in answers if a)
        print(f"\n{mode}: UDP from the host -> {dict(senders)}")
        assert all(a.endswith(f" x{i}") for i, a in enumerate(answers)), answers
        assert set(senders) == set(pods_by_node(run, "echo-")), senders
        # From a pod, by the env var and by the DNS name.
        for target in ("env", "echo"):
            lines = exec_argv(run, "client", "python3", "-c", UDP_CLIENT, target, "12").split("\n")
            lines = [line for line in lines if line.strip()]
            got = Counter(line.split()[0] for line in lines)
            print(f"{mode}: UDP from a pod via {target} -> {dict(got)}")
            assert "FAIL" not in got and sum(got.values()) == 12, lines
            assert set(got) == set(pods_by_node(run, "echo-")), got


@pytest.mark.twohosts  # the server listens on the root end of hostb's veth
class TestOutsideEndpoints:
    def test_selectorless_service_and_external_name(self, svc_factory: list[ServiceRun],
                                                    tmp_path: Path, hostb: Host) -> None:
        """A manual Endpoints to a server on the host works from a pod; ExternalName is a CNAME."""
        server = TextServer(LOCAL_ADDRESS, "outside the cluster")
        try:
            run = start(svc_factory, tmp_path)
            run.write("external.yaml", EXTERNAL.replace("ADDRESS", LOCAL_ADDRESS)
                      .replace("PORT", str(server.port)))
            run.write("client.yaml", client_pod("client"))
            run.start()
            cip = cluster_ip(run, "external-service")
            wait_until(lambda: pods_by_node(run, "client"), 60, what="the client pod")
            assert endpoint_ips(run, "external-service") == {LOCAL_ADDRESS}
            eps = run.cli("get", "endpoints", "external-service").stdout
            assert f"{LOCAL_ADDRESS}:{server.port}" in eps, eps
            wait_until(lambda: requests_from(run, "client", "external-service 80", 1)["FAIL"] == 0,
                       15, what="a first answer through the selectorless service")
            got = requests_from(run, "client", "external-service 80", 5)
            assert got == Counter({"outside the cluster": 5}), got

            # ExternalName: a CNAME, followed by the pod's resolver to the service above.
            answers = dns_query("ext-name.default.svc.cluster.local", "A")
            print(f"\nDNS ext-name.default.svc.cluster.local A -> {answers}")
            assert answers[0] == ("CNAME", "external-service.default.svc.cluster.local.")
            assert ("A", cip) in answers
            # busybox nslookup exits 1 when any search-list candidate is NXDOMAIN.
            looked_up = exec_out(run, "client", "nslookup ext-name; true")
            assert "canonical name = external-service.default.svc.cluster.local" in looked_up, (
                looked_up)
            got = requests_from(run, "client", "ext-name 80", 3)
            assert got == Counter({"outside the cluster": 3}), got
            svc = run.cli("get", "svc", "ext-name").stdout.splitlines()[1].split()
            assert svc[:4] == ["ext-name", "ExternalName", "<none>",
                               "external-service.default.svc.cluster.local"], svc
        finally:
            server.close()


def _ack_recorder(run: ServiceRun, stop: threading.Event,
                  seen: list[tuple[float, str, int]]) -> threading.Thread:
    """A thread recording each change of the proxies' ack rows as (time, node, revision)."""
    from reconciler.store import Store

    def loop() -> None:
        store = Store.open(str(run.state), create=False)
        last: dict[str, int] = {}
        try:
            while not stop.is_set():
                for ack in store.proxy_acks():
                    if last.get(ack.node) != ack.revision:
                        last[ack.node] = ack.revision
                        seen.append((time.monotonic(), ack.node, ack.revision))
                stop.wait(0.02)
        finally:
            store.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@pytest.mark.twohosts
class TestDrainWaitsForProxies:
    # The machine lock may be held by a benchmark for minutes before this test starts.
    @pytest.mark.timeout(1200)
    def test_scale_down_under_load_waits_for_both_proxies(
        self, svc_factory: list[ServiceRun], tmp_path: Path, hostb: Host,
        hostb_proxy: list[HostbProxy],
    ) -> None:
        """Scale-down under two request streams loses none; a dead proxy costs only the timeout."""
        from reconciler.control.pods import PROXY_ACK_TIMEOUT
        from reconciler.store import Store

        def rc(replicas: int) -> str:
            # A grace period long enough that the drain, not the grace, bounds the wait.
            return web_rc(replicas).replace("terminationGracePeriodSeconds: 1",
                                            "terminationGracePeriodSeconds: 30")

        run = two_host_web(svc_factory, tmp_path, hostb_proxy, "iptables", replicas=4,
                           svc_type="ClusterIP", rc=rc(4))
        acks: list[tuple[float, str, int]] = []
        stop = threading.Event()
        recorder = _ack_recorder(run, stop, acks)
        streams = []
        try:
            for client in ("client-a", "client-b"):
                # -i: through the docker CLI, which streams (plain exec prints at the end).
                stream = subprocess.Popen(
                    [RECONCILER, "exec", "-i", "--state", str(run.state), client, "--", "sh",
                     "-c", http_loop("web 80", 400, pause="20000")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True)
                lines: list[str] = []
                reader = threading.Thread(target=lambda s=stream, o=lines: o.extend(s.stdout or ()),
                                          daemon=True)
                reader.start()
                streams.append((client, stream, lines, reader))
            # Scale down only once both streams reach every replica: the deleted pods
            # are serving when they are marked.
            wait_until(lambda: all(len(set(tally("".join(o)))) >= 4 for _, _, o, _ in streams),
                       90, what="both streams answered by all 4 replicas")
            scaled_at = time.monotonic()
            before = [len(o) for _, _, o, _ in streams]
            run.write("web-rc.yaml", rc(2))
            for (client, stream, lines, reader), early in zip(streams, before, strict=True):
                stream.wait(timeout=240)
                reader.join(10)
                got = tally("".join(lines))
                print(f"\nscale 4 -> 2 under load, from {client}: {dict(got)}, "
                      f"{len(lines) - early} of them after the scale-down was written")
                assert len(lines) - early >= 100, "the stream went on well past the scale-down"
                assert sum(got.values()) == 400, (lines[-5:], stream.returncode)
                assert len(got) - ("FAIL" in got) == 4, f"{client}: the deleted pods served: {got}"
                assert got["FAIL"] == 0, f"{client}: no request may fail: {got}"
            wait_until(lambda: len(pods_by_node(run, "web-")) == 2, 60, what="2 replicas")
        finally:
            for _, stream, _, _ in streams:
                if stream.poll() is None:
                    stream.kill()
            stop.set()
            recorder.join(10)
        with Store.open(str(run.state), create=False) as store:
            final = store.endpoints_revision()
            behind = store.proxies_behind(final, 3600)
        after = sorted((node, revision) for at, node, revision in acks if at > scaled_at)
        print(f"acknowledgements after the scale-down: {after}; final revision {final}")
        # Both proxies followed the Endpoints without the deleted pods, and neither was
        # given up on (the warning below).
        assert {node for node, _ in after} == {"local", "hostb"} and behind == []
        assert "did not acknowledge" not in run.output()

        # hostb's proxy killed (its ack row stays, fresh): the drain waits for it only
        # until PROXY_ACK_TIMEOUT, then stops the pod anyway and says so.
        proxy = hostb_proxy[0].proc
        proxy.kill()
        proxy.wait(10)
        run.write("web-rc.yaml", rc(1))
        wait_until(lambda: len(pods_by_node(run, "web-")) == 1, 60 + PROXY_ACK_TIMEOUT,
                   what="the replica deleted despite the dead proxy")
        wait_until(lambda: "did not acknowledge" in run.output(), 30, what="the warning")
        warning = next(line for line in run.output().splitlines()
                       if "did not acknowledge" in line)
        print(warning)
        assert "hostb" in warning
