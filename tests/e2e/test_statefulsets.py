"""End to end: StatefulSets and the network identity of their pods, on the real engine (issue 10).

Each test runs `reconciler run` on its own folder. `TestHeadlessPodDns` proves the DNS
side with plain Pods that set spec.hostname and spec.subdomain under a headless Service
(what a StatefulSet's pods are). `TestWebExample` copies the Kubernetes website's
StatefulSet example (application/web/web.yaml) unchanged into the folder, with
registry.k8s.io/nginx-slim:0.8 mapped to the local reconciler/nginx-slim:1
(scripts/build-images.sh), and checks ordered start, stable storage, per-pod DNS,
ordered scaling and the rolling update. Requests come from a client pod
(`reconciler exec`, busybox nslookup and nc).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.service import ROOT, ServiceRun, wait_until
from tests.e2e.services_kit import (
    client_pod,
    dns_query,
    endpoint_ips,
    exec_out,
    pod_ip,
    pods_by_node,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

NGINX_IMAGE = "reconciler/nginx-slim:1"
WEB_YAML = (ROOT.parent / "shared" / "k8s-corpus" / "real" / "kubernetes-website"
            / "application" / "web" / "web.yaml")

# A pod as a StatefulSet makes it: hostname and subdomain set, under the headless
# service `nginx`. READY decides whether its readiness probe can pass.
MEMBER = """\
apiVersion: v1
kind: Pod
metadata: {name: NAME, labels: {app: nginx}}
spec:
  hostname: NAME
  subdomain: nginx
  terminationGracePeriodSeconds: 0
  containers:
  - name: nginx
    image: reconciler/busybox:1
    command: ["sh", "-c", "READY exec httpd -f -p 80 -h /tmp"]
    ports: [{containerPort: 80, name: web}]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
"""

HEADLESS = """\
apiVersion: v1
kind: Service
metadata: {name: nginx, labels: {app: nginx}}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{port: 80, name: web}]
"""


def member(name: str, ready: bool = True) -> str:
    return MEMBER.replace("NAME", name).replace(
        "READY", "touch /tmp/ready &&" if ready else "")


def nslookup(run: ServiceRun, pod: str, name: str) -> set[str]:
    """The addresses busybox nslookup prints for `name` inside `pod` (server lines left out)."""
    # busybox nslookup exits 1 when any search-list candidate is NXDOMAIN.
    out = exec_out(run, pod, f"nslookup {name} 2>&1; true")
    answer = out.split("Name:", 1)[1] if "Name:" in out else ""
    return set(re.findall(r"Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)", answer))


class TestHeadlessPodDns:
    def test_pod_names_headless_name_and_hostnames(
        self, svc_factory: list[ServiceRun], tmp_path: Path
    ) -> None:
        """web-N.nginx and its FQDN answer that pod; nginx answers the ready pods only."""
        run = ServiceRun(tmp_path)
        svc_factory.append(run)
        run.write("nginx.yaml", HEADLESS)
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
        fqdn = nslookup(run, "client", "web-0.nginx.default.svc.cluster.local")
        assert fqdn == {ips["web-0"]}, fqdn
        headless = nslookup(run, "client", "nginx")
        print(f"nslookup nginx -> {headless}")
        assert headless == {ips["web-0"], ips["web-1"]}, headless
        # Not ready: in no answer, as CoreDNS serves only ready addresses.
        assert nslookup(run, "client", "web-2.nginx") == set()
        assert dns_query("web-2.nginx.default.svc.cluster.local", "A") == []
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
