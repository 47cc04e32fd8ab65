"""End to end: the network identity of headless services' pods, on the real engine (issue 10).

What a StatefulSet's pods get, proved with plain Pods that set spec.hostname and
spec.subdomain under a headless Service `nginx` (no StatefulSet needed): per-pod
names (short, as busybox nslookup sends them, and full), the headless name with the
ready pods only, SRV, PTR and pod A records, hostnames. The service runs as a
subprocess; lookups come from a client pod (`reconciler exec`, busybox nslookup, nc).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.service import ServiceRun, wait_until
from tests.e2e.services_kit import (
    client_pod,
    dns_query,
    endpoint_ips,
    exec_out,
    pod_ip,
    pods_by_node,
)
from tests.e2e.statefulsets_kit import HEADLESS, http_get, member, nslookup
from tests.support.machine_lock import MACHINE_NETWORK

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300), MACHINE_NETWORK]


class TestHeadlessPodDns:
    def test_pod_names_headless_name_and_hostnames(
        self, svc_factory: list[ServiceRun], tmp_path: Path
    ) -> None:
        """web-N.nginx and its FQDN answer that pod; nginx answers the ready pods only."""
        run = ServiceRun(tmp_path)
        svc_factory.append(run)
        run.write("nginx.yaml", HEADLESS)
        run.write("everyone.yaml", HEADLESS.replace("{name: nginx,", "{name: everyone,").replace(
            "  clusterIP: None\n", "  clusterIP: None\n  publishNotReadyAddresses: true\n"))
        run.write("members.yaml", "---\n".join(
            [member("web-0"), member("web-1"), member("web-2", ready=False)]))
        run.write("client.yaml", client_pod("client"))
        run.start()
        wait_until(lambda: len(pods_by_node(run, "web-")) == 2 and pods_by_node(run, "client"),
                   60, what="web-0, web-1 ready and the client")
        wait_until(lambda: pod_ip(run, "web-2"), 30, what="web-2's address")
        ips = {name: pod_ip(run, name) for name in ("web-0", "web-1", "web-2")}
        wait_until(lambda: endpoint_ips(run, "nginx") == {ips["web-0"], ips["web-1"]}, 10,
                   what="the ready pods in the endpoints")

        eps = run.get_json("endpoints", "nginx")
        assert {(a["hostname"], a["ip"]) for s in eps["subsets"] for a in s["addresses"]} == {
            ("web-0", ips["web-0"]), ("web-1", ips["web-1"])}, eps

        # The short name (busybox nslookup sends it without the search list), as the
        # issue's test types it.
        for name in ("web-0", "web-1"):
            got = nslookup(run, "client", f"{name}.nginx")
            print(f"\nnslookup {name}.nginx -> {got}")
            assert got == {ips[name]}, got
            # The pod's libc resolver applies the search list: traffic by name reaches it.
            assert http_get(run, "client", f"{name}.nginx") == name
        dashed = ips["web-1"].replace(".", "-")
        assert nslookup(run, "client", f"{dashed}.default.pod.cluster.local") == {ips["web-1"]}
        # Reverse: the pod's address names it (the DNS spec's PTR record).
        reverse = exec_out(run, "client", f"nslookup {ips['web-0']} 2>&1; true")
        assert "name = web-0.nginx.default.svc.cluster.local" in reverse, reverse
        fqdn = nslookup(run, "client", "web-0.nginx.default.svc.cluster.local")
        assert fqdn == {ips["web-0"]}, fqdn
        headless = nslookup(run, "client", "nginx")
        print(f"nslookup nginx -> {headless}")
        assert headless == {ips["web-0"], ips["web-1"]}, headless
        # Not ready: in no answer, as CoreDNS serves only ready addresses...
        assert nslookup(run, "client", "web-2.nginx") == set()
        assert dns_query("web-2.nginx.default.svc.cluster.local", "A") == []
        # ...unless the service publishes not-ready addresses (peer discovery).
        wait_until(lambda: endpoint_ips(run, "everyone") == set(ips.values()), 10,
                   what="every member in the publishNotReadyAddresses service")
        assert nslookup(run, "client", "everyone") == set(ips.values())
        # The pod's own hostname and FQDN.
        for name in ("web-0", "web-2"):
            assert exec_out(run, name, "hostname").strip() == name
        fqdn_of_pod = exec_out(run, "web-0", "hostname -f").strip()
        print(f"web-0: hostname -f -> {fqdn_of_pod}")
        assert fqdn_of_pod == "web-0.nginx.default.svc.cluster.local"

        # Ready later: its name and the headless name answer it.
        exec_out(run, "web-2", "touch /tmp/ready")
        wait_until(lambda: ips["web-2"] in endpoint_ips(run, "nginx"), 15, what="web-2 ready")
        wait_until(lambda: nslookup(run, "client", "web-2.nginx") == {ips["web-2"]}, 5,
                   what="web-2.nginx answered once ready")
        assert nslookup(run, "client", "nginx") == set(ips.values())
