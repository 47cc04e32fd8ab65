"""End to end: the StatefulSet tests that need the service proxy (issue 10): per-pod DNS.

The Kubernetes website's StatefulSet example (statefulsets_kit.web_service) with
the proxy and cluster DNS on: ordered start, per-pod and SRV names and stable
storage; a StatefulSet in another namespace; a member that returns to its
volume's host and answers under its per-pod name from the other host. Being in
the machine-network chain (tests/support/machine_lock.py), these run one after
another with the other proxy tests; the rest of the StatefulSet tests, with no
proxy, are in test_statefulsets.py and run beside them (the claims' volumes,
named as Kubernetes names PVCs, are guarded by statefulsets_kit's own lock).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Host
from tests.e2e.service import ROOT, ServiceRun, wait_until
from tests.e2e.services_kit import (
    HOSTB_ADDRESS,
    NODES,
    client_pod,
    dns_query,
    endpoint_ips,
    exec_out,
    http_loop,
    pod_ip,
    pods_by_node,
    tally,
)
from tests.e2e.statefulsets_kit import (
    WEB_YAML,
    PodWatch,
    http_get,
    members_are,
    nslookup,
    set_events,
    set_replicas,
    volumes,
    web_service,
)
from tests.support.machine_lock import MACHINE_NETWORK

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300), MACHINE_NETWORK]


@pytest.fixture
def web(svc_factory: list[ServiceRun], tmp_path: Path) -> Iterator[tuple[ServiceRun, PodWatch]]:
    """The service with its proxy (not started yet) on a folder holding web.yaml as
    published and a client pod (statefulsets_kit.web_service)."""
    with web_service(svc_factory, tmp_path, proxy=True) as got:
        yield got


@pytest.mark.skipif(importlib.util.find_spec("reconciler.control.statefulsets") is None,
                    reason="the StatefulSet controller (reconciler/control/statefulsets.py) "
                           "is not there yet")
class TestWebExampleDns:
    def test_ordered_start_dns_and_stable_storage(
        self, web: tuple[ServiceRun, PodWatch]
    ) -> None:
        """web-0 is ready before web-1 exists; web-0.nginx answers; its file survives deletion."""
        run, watch = web
        run.start()
        wait_until(lambda: members_are(run, ["web-0", "web-1"]) and pods_by_node(run, "client"),
                   90, what="web-0, web-1 and the client running")
        print("\n" + watch.timeline())
        assert watch.created("web-1") >= watch.ready_at("web-0"), watch.timeline()
        assert set_events(run, "create") == ["web-0", "web-1"]
        lines = run.cli("get", "sts").stdout.splitlines()
        assert lines[0].split() == ["NAME", "READY", "AGE"], lines
        assert lines[1].split()[:2] == ["web", "2/2"], lines
        described = run.cli("describe", "sts", "web").stdout
        for pattern in (r"^Replicas:\s+2 desired \| 2 total$",
                        r"^Update Strategy:\s+RollingUpdate$",
                        r"^Pods Status:\s+2 Running / 0 Waiting / 0 Succeeded / 0 Failed$",
                        r"^Volume Claims:$", r"^\s+Name:\s+www$", r"^\s+Capacity:\s+1Gi$"):
            assert re.search(pattern, described, re.M), (pattern, described)

        pod = run.get_json("pods", "web-1")
        assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "nginx"
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == "web-1", labels
        assert labels["apps.kubernetes.io/pod-index"] == "1", labels
        assert labels["controller-revision-hash"].startswith("web-"), labels
        assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}} in \
            pod["spec"]["volumes"], pod["spec"]["volumes"]
        assert volumes(run.prefix) == {"www-web-0", "www-web-1"}

        ips = {n: pod_ip(run, n) for n in ("web-0", "web-1")}
        wait_until(lambda: endpoint_ips(run, "nginx") == set(ips.values()), 10,
                   what="both members in the headless service")
        for name, ip in ips.items():
            got = nslookup(run, "client", f"{name}.nginx")
            print(f"nslookup {name}.nginx -> {got}")
            assert got == {ip}, got
        assert nslookup(run, "client", "nginx") == set(ips.values())
        assert exec_out(run, "web-0", "hostname").strip() == "web-0"
        assert exec_out(run, "web-0", "hostname -f").strip() == \
            "web-0.nginx.default.svc.cluster.local"
        srv = dns_query("_web._tcp.nginx.default.svc.cluster.local", "SRV")
        assert sorted(v for t, v in srv if t == "SRV") == [
            f"0 100 80 {n}.nginx.default.svc.cluster.local." for n in ("web-0", "web-1")], srv

        # Stable storage: a page written into web-0's volume is served by the new web-0.
        exec_out(run, "web-0", "echo stored-in-web-0 > /usr/share/nginx/html/index.html")
        assert http_get(run, "client", "web-0.nginx") == "stored-in-web-0"
        first = watch.uids("web-0")[0]
        run.cli("delete", "pod", "web-0")
        wait_until(lambda: len(watch.uids("web-0")) == 2 and members_are(run, ["web-0", "web-1"]),
                   60, what="web-0 recreated and running")
        assert watch.uids("web-0")[0] == first
        new_ip = pod_ip(run, "web-0")
        wait_until(lambda: nslookup(run, "client", "web-0.nginx") == {new_ip}, 10,
                   what="web-0.nginx answering the new pod")
        assert http_get(run, "client", "web-0.nginx") == "stored-in-web-0"
        assert volumes(run.prefix) == {"www-web-0", "www-web-1"}

    def test_in_another_namespace(self, web: tuple[ServiceRun, PodWatch]) -> None:
        """In namespace db: volumes www-web-N.db, names under db.svc, a client of db finds web-0."""
        run, _ = web
        text = WEB_YAML.read_text()
        for name in ("nginx", "web"):
            text = text.replace(f"metadata:\n  name: {name}\n",
                                f"metadata:\n  name: {name}\n  namespace: db\n", 1)
        (run.desired / "web.yaml").unlink()
        (run.desired / "client.yaml").unlink()
        run.write("db.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: db}\n---\n"
                  + client_pod("client").replace("{name: client,", "{name: client, namespace: db,"))
        run.write("web.yaml", text)
        run.start()
        wait_until(lambda: sorted(p["metadata"]["name"] for p in run.running("db"))
                   == ["client", "web-0", "web-1"], 90, what="web-0, web-1 and a client in db")
        assert volumes(run.prefix) == {"www-web-0.db", "www-web-1.db"}
        pvc = run.cli("get", "pvc", "-n", "db").stdout.splitlines()
        assert [line.split()[:3] for line in pvc[1:]] == [
            ["www-web-0", "Bound", "www-web-0.db"], ["www-web-1", "Bound", "www-web-1.db"]], pvc

        def in_db(script: str) -> str:
            return run.cli("exec", "-n", "db", "client", "--", "sh", "-c", script).stdout

        ip = next(p["status"]["podIP"] for p in run.pods("db") if p["metadata"]["name"] == "web-0")
        assert nslookup(run, "client", "web-0.nginx.db.svc.cluster.local", "db") == {ip}
        # busybox nslookup sends web-0.nginx without the search list: read in the asker's
        # namespace.
        assert nslookup(run, "client", "web-0.nginx", "db") == {ip}
        # Through the pod's resolver: the search list starts with db.svc.cluster.local.
        got = tally(in_db(http_loop("web-0.nginx 80", 1)))
        assert "FAIL" not in got, got
        assert dns_query("web-0.nginx.default.svc.cluster.local", "A") == []



@pytest.mark.twohosts
class TestTwoHosts:
    def test_a_member_comes_back_to_its_volumes_host(
        self, web: tuple[ServiceRun, PodWatch], hostb: Host
    ) -> None:
        """Members spread on both hosts; a deleted one waits for, and returns to, its volume's."""
        run, watch = web
        build = subprocess.run([str(ROOT / "scripts" / "build-images.sh"), "--host", hostb.url],
                               capture_output=True, text=True, timeout=120, check=False)
        assert build.returncode == 0, build.stderr
        run.write("nodes.yaml", NODES)
        set_replicas(run, 4)
        run.start()
        names = [f"web-{i}" for i in range(4)]
        wait_until(lambda: members_are(run, names), 120, what="4 members")
        placed = pods_by_node(run, "web-")
        print(f"\nplacement: {placed}")
        assert set(placed.values()) == {"local", "hostb"}, placed
        on = {node: {f"www-{n}" for n, at in placed.items() if at == node}
              for node in ("local", "hostb")}
        assert volumes(run.prefix) == on["local"]
        assert volumes(run.prefix, hostb.url) == on["hostb"]

        moved = sorted(n for n, at in placed.items() if at == "hostb")[0]
        exec_out(run, moved, "echo kept-on-hostb > /usr/share/nginx/html/index.html")
        # hostb cordoned: the new pod may not move to local, where its volume is not.
        cordoned = NODES.replace(f"address: {HOSTB_ADDRESS}}}",
                                 f"address: {HOSTB_ADDRESS}, unschedulable: true}}")
        assert cordoned != NODES
        run.write("nodes.yaml", cordoned)
        wait_until(lambda: "SchedulingDisabled" in run.cli("get", "nodes").stdout, 15,
                   what="hostb cordoned")
        run.cli("delete", "pod", moved)
        described = wait_until(lambda: len(watch.uids(moved)) == 2 and "volume node affinity"
                               in (d := run.cli("describe", "pod", moved).stdout) and d, 60,
                               what=f"{moved} Pending for its volume")
        print(described)
        assert re.search(r"^Status:\s+Pending$", described, re.M), described
        run.write("nodes.yaml", NODES)
        wait_until(lambda: members_are(run, names), 60, what=f"{moved} running again")
        assert pods_by_node(run, "web-")[moved] == "hostb"
        assert exec_out(run, moved, "cat /usr/share/nginx/html/index.html").strip() == \
            "kept-on-hostb"
        # Its per-pod name from a member on the other host: the host routes carry it.
        here = sorted(n for n, at in placed.items() if at == "local")[0]
        assert http_get(run, here, f"{moved}.nginx") == "kept-on-hostb"
