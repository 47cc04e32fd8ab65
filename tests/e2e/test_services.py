"""End to end: services on the real service and engines, two hosts (issue 5).

Each test runs `reconciler run` (iptables mode unless a test says otherwise) on its
own folder; tests that use both hosts also run `reconciler proxy --node hostb`
inside hostb's network namespace, so pods there reach services too. Requests are
made from inside pods (services_kit.requests_from) and, for NodePorts, from the
root namespace.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import Host
from tests.e2e.service import ServiceRun, wait_until
from tests.e2e.services_kit import (
    HOSTB_ADDRESS,
    NODES,
    HostbProxy,
    client_pod,
    cluster_ip,
    endpoint_ips,
    exec_out,
    pods_by_node,
    requests_from,
    service_json,
    tcp_get,
    web_rc,
    web_svc,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


def start(svc_factory: list[ServiceRun], tmp_path: Path, mode: str = "iptables") -> ServiceRun:
    run = ServiceRun(tmp_path, args=("--proxy-mode", mode))
    svc_factory.append(run)
    return run


@pytest.fixture
def hostb_proxy(tmp_path: Path) -> object:
    """A list to append the HostbProxy to; stopped after the test."""
    proxies: list[HostbProxy] = []
    yield proxies
    for p in proxies:
        p.stop()


def two_host_web(svc_factory: list[ServiceRun], tmp_path: Path, proxies: list[HostbProxy],
                 mode: str, replicas: int = 4, svc_type: str = "NodePort") -> ServiceRun:
    """Service `web` over an RC spread on both hosts, one client pod per host, both proxies."""
    run = start(svc_factory, tmp_path, mode)
    run.write("nodes.yaml", NODES)
    run.write("web-svc.yaml", web_svc(svc_type))
    run.start()
    proxies.append(HostbProxy(run.state, tmp_path / "proxy-hostb.log", mode))
    cluster_ip(run, "web")
    # Written after the service has its address: the env vars go to pods started after it.
    run.write("web-rc.yaml", web_rc(replicas))
    run.write("clients.yaml", client_pod("client-a", "local") + "---\n"
              + client_pod("client-b", "hostb"))
    wait_until(lambda: len(pods_by_node(run, "web-")) == replicas
               and len(pods_by_node(run, "client-")) == 2, 90, what="web replicas and clients")
    wait_until(lambda: len(endpoint_ips(run, "web")) == replicas, 10, what="all endpoints")
    # The proxies read the store every 0.5 s (0.2 s for hostb's here): the first answer
    # may lag the Endpoints by that much.
    for client in ("client-a", "client-b"):
        wait_until(lambda c=client: requests_from(run, c, "web 80", 1)["FAIL"] == 0, 15,  # type: ignore[misc]
                   what=f"a first answer from web in {client}")
    return run


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

        # NodePort: the local proxy on 127.0.0.1, hostb's proxy on hostb's address.
        node_port = int(service_json(run, "web")["spec"]["ports"][0]["nodePort"])
        assert 30000 <= node_port <= 32767
        for host in ("127.0.0.1", HOSTB_ADDRESS):
            answers = Counter(tcp_get(host, node_port) for _ in range(12))
            print(f"{mode}: NodePort {host}:{node_port} -> {dict(answers)}")
            assert "" not in answers and set(answers) <= set(placed), answers
