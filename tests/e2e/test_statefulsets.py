"""End to end: StatefulSets on the real engine (issue 10).

Each test runs `reconciler run` on its own folder holding the Kubernetes website's
StatefulSet example (application/web/web.yaml), copied unchanged or with the one
field a test is about added, with registry.k8s.io/nginx-slim:0.8 mapped to the local
reconciler/nginx-slim:1 (scripts/build-images.sh). It checks ordered start and
scaling, stable storage, per-pod DNS, updates, retention, restarts and two hosts
against a timeline of the store (statefulsets_kit.PodWatch). The DNS side alone, with
plain Pods, is tests/e2e/test_headless_dns.py.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Host
from tests.e2e.service import ROOT, ServiceRun, containers, remove_all, wait_until
from tests.e2e.services_kit import (
    HOSTB_ADDRESS,
    HOSTB_URL,
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
    NGINX_IMAGE,
    WEB_YAML,
    PodWatch,
    http_get,
    members_are,
    nslookup,
    remove_volumes,
    set_events,
    set_replicas,
    volumes,
    web_yaml,
)
from tests.support.machine_lock import MACHINE_NETWORK

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300), MACHINE_NETWORK]


@pytest.fixture
def web(svc_factory: list[ServiceRun], tmp_path: Path) -> Iterator[tuple[ServiceRun, PodWatch]]:
    """The service (not started yet) on a folder holding web.yaml as published and a client
    pod; afterwards it is stopped, its containers and its claims' volumes removed."""
    if not WEB_YAML.exists():
        pytest.skip(f"{WEB_YAML} not found (the shared Kubernetes corpus)")
    build = subprocess.run([str(ROOT / "scripts" / "build-images.sh")], capture_output=True,
                           text=True, timeout=120, check=False)
    present = subprocess.run(["docker", "image", "inspect", NGINX_IMAGE], capture_output=True,
                             check=False).returncode == 0
    if build.returncode != 0 or not present:
        pytest.skip(f"cannot build {NGINX_IMAGE}: {build.stderr}")
    run = ServiceRun(tmp_path, extra_env={
        "RECONCILER_RUNTIME_IMAGE_MAP": f"registry.k8s.io/nginx-slim:0.8={NGINX_IMAGE}"})
    svc_factory.append(run)
    # Claim volumes are named as Kubernetes names PVCs, not by the run's prefix: one a
    # crashed run left behind would be adopted. Those no container uses are removed,
    # under the machine lock that `start` takes anyway: another checkout running these
    # tests keeps a scaled-down member's volume unused but not stale.
    run._take_machine_lock()
    stale = [f"www-web-{i}" for i in range(5)]
    hostb_up = Path(HOSTB_URL[len("unix://"):]).exists()
    for host in (["-H", HOSTB_URL], []) if hostb_up else ([],):
        subprocess.run(["docker", *host, "volume", "rm", *stale], capture_output=True,
                       check=False)
    shutil.copyfile(WEB_YAML, run.desired / "web.yaml")
    run.write("client.yaml", client_pod("client"))
    watch = PodWatch(run.state)
    try:
        yield run, watch
    finally:
        watch.stop()
        print("\npods of the StatefulSet:\n" + watch.timeline())
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        remove_all(run.prefix)
        remove_volumes(run.prefix)
        if Path(HOSTB_URL[len("unix://"):]).exists():  # the hostb fixture may start it later
            remove_all(run.prefix, HOSTB_URL)
            remove_volumes(run.prefix, HOSTB_URL)
        run._release_machine_lock()  # stop() released it, unless the test never started


@pytest.mark.skipif(importlib.util.find_spec("reconciler.control.statefulsets") is None,
                    reason="the StatefulSet controller (reconciler/control/statefulsets.py) "
                           "is not there yet")
class TestWebExample:
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

    def test_scaling_orders_creations_up_and_deletions_down(
        self, web: tuple[ServiceRun, PodWatch]
    ) -> None:
        """2 -> 4 creates web-2 then web-3; 4 -> 1 deletes web-3, web-2, web-1; claims stay."""
        run, watch = web
        run.start()
        wait_until(lambda: members_are(run, ["web-0", "web-1"]), 90, what="web-0 and web-1")
        set_replicas(run, 4)
        wait_until(lambda: members_are(run, ["web-0", "web-1", "web-2", "web-3"]), 90,
                   what="4 members")
        assert watch.created("web-2") >= watch.ready_at("web-1"), watch.timeline()
        assert watch.created("web-3") >= watch.ready_at("web-2"), watch.timeline()
        assert volumes(run.prefix) == {f"www-web-{i}" for i in range(4)}

        set_replicas(run, 1)
        wait_until(lambda: members_are(run, ["web-0"]), 90, what="web-0 alone")
        print("\n" + watch.timeline())
        # OrderedReady: each deletion starts once the higher ordinal is gone.
        t3, t2, t1 = (watch.deleted_at(n) for n in ("web-3", "web-2", "web-1"))
        assert t3 <= t2 <= t1, watch.timeline()
        assert watch.created("web-0") == watch.created("web-0", 0)  # web-0 untouched

        # Scaling down keeps the claims and their volumes, as Kubernetes keeps PVCs.
        assert volumes(run.prefix) == {f"www-web-{i}" for i in range(4)}
        pvc = run.cli("get", "pvc").stdout
        print(pvc)
        lines = pvc.splitlines()
        assert lines[0].split()[:2] == ["NAME", "STATUS"], pvc
        assert sorted(line.split()[0] for line in lines[1:]) == \
            [f"www-web-{i}" for i in range(4)], pvc
        assert all(line.split()[1] == "Bound" for line in lines[1:]), pvc
        assert set_events(run, "create") == ["web-0", "web-1", "web-2", "web-3"]
        assert set_events(run, "delete") == ["web-3", "web-2", "web-1"]

        # Deleting the manifest removes the pods and keeps the claims (whenDeleted: Retain).
        (run.desired / "web.yaml").unlink()
        wait_until(lambda: not [p for p in run.pods() if p["metadata"]["name"].startswith("web-")],
                   60, what="the set's pods gone")
        assert volumes(run.prefix) == {f"www-web-{i}" for i in range(4)}
        assert len(run.cli("get", "pvc").stdout.splitlines()) == 5

    def test_rolling_update_from_the_highest_ordinal(
        self, web: tuple[ServiceRun, PodWatch]
    ) -> None:
        """A template change replaces web-2, web-1, then web-0, each once the last is ready."""
        run, watch = web
        set_replicas(run, 3)
        run.start()
        wait_until(lambda: members_are(run, ["web-0", "web-1", "web-2"]), 90,
                   what="3 members")
        old = {n: watch.uids(n)[0] for n in ("web-0", "web-1", "web-2")}
        path = run.desired / "web.yaml"
        text = path.read_text().replace(
            "      - name: nginx\n",
            "      - name: nginx\n        env: [{name: VERSION, value: \"2\"}]\n", 1)
        run.write("web.yaml", text)
        wait_until(lambda: all(len(watch.uids(n)) == 2 for n in old)
                   and members_are(run, ["web-0", "web-1", "web-2"]), 120,
                   what="every member replaced")
        print("\n" + watch.timeline())
        for name in old:
            assert exec_out(run, name, "echo $VERSION").strip() == "2"
        # Highest ordinal first, the next only once the replacement is ready.
        assert watch.deleted_at("web-2", 0) <= watch.deleted_at("web-1", 0) \
            <= watch.deleted_at("web-0", 0), watch.timeline()
        assert watch.deleted_at("web-1", 0) >= watch.ready_at("web-2"), watch.timeline()
        assert watch.deleted_at("web-0", 0) >= watch.ready_at("web-1"), watch.timeline()
        revisions = {p["metadata"]["labels"]["controller-revision-hash"]
                     for p in run.pods() if p["metadata"]["name"].startswith("web-")}
        assert len(revisions) == 1, revisions

    def test_parallel_starts_every_member_at_once(
        self, web: tuple[ServiceRun, PodWatch]
    ) -> None:
        """Parallel creates web-1 and web-2 before any member is ready."""
        run, watch = web
        # Ready 2 s after the start: OrderedReady would wait that long between members.
        text = web_yaml(podManagementPolicy="Parallel").replace(
            "  replicas: 2\n", "  replicas: 3\n", 1).replace(
            "        - containerPort: 80\n          name: web\n",
            "        - containerPort: 80\n          name: web\n        readinessProbe:\n"
            "          tcpSocket: {port: 80}\n          initialDelaySeconds: 2\n"
            "          periodSeconds: 1\n", 1)
        run.write("web.yaml", text)
        run.start()
        wait_until(lambda: members_are(run, ["web-0", "web-1", "web-2"]), 90, what="3 members")
        print("\n" + watch.timeline())
        first_ready = min(watch.ready_at(n) for n in ("web-0", "web-1", "web-2"))
        assert all(watch.created(n) < first_ready for n in ("web-1", "web-2")), watch.timeline()
        assert volumes(run.prefix) == {"www-web-0", "www-web-1", "www-web-2"}

        # Parallel scale-down deletes every condemned member at once too.
        run.write("web.yaml", text.replace("  replicas: 3\n", "  replicas: 1\n"))
        wait_until(lambda: members_are(run, ["web-0"]), 60, what="web-0 alone")
        print(watch.timeline())
        assert abs(watch.deleted_at("web-2") - watch.deleted_at("web-1")) < 0.5, watch.timeline()

    def test_claims_deleted_on_scale_down_when_asked(
        self, web: tuple[ServiceRun, PodWatch]
    ) -> None:
        """whenScaled/whenDeleted Delete: claims and volumes go on scale-down, then with the set."""
        run, _ = web
        text = web_yaml(
            persistentVolumeClaimRetentionPolicy="{whenScaled: Delete, whenDeleted: Delete}"
        ).replace(
            "  replicas: 2\n", "  replicas: 3\n", 1)
        run.write("web.yaml", text)
        run.start()
        wait_until(lambda: members_are(run, ["web-0", "web-1", "web-2"]), 90, what="3 members")
        assert volumes(run.prefix) == {"www-web-0", "www-web-1", "www-web-2"}
        run.write("web.yaml", text.replace("  replicas: 3\n", "  replicas: 1\n"))
        wait_until(lambda: members_are(run, ["web-0"]), 60, what="web-0 alone")
        wait_until(lambda: volumes(run.prefix) == {"www-web-0"}, 30,
                   what="the claims of web-1 and web-2 removed with their volumes")
        pvc = run.cli("get", "pvc").stdout.splitlines()
        assert [line.split()[0] for line in pvc[1:]] == ["www-web-0"], pvc

        (run.desired / "web.yaml").unlink()
        wait_until(lambda: not volumes(run.prefix), 60, what="www-web-0 removed with the set")
        wait_until(lambda: len(run.cli("get", "pvc").stdout.splitlines()) <= 1, 10,
                   what="no claims left")

    def test_partition_then_on_delete(self, web: tuple[ServiceRun, PodWatch]) -> None:
        """partition: 2 updates web-2 only; OnDelete replaces a pod only when it is deleted."""
        run, watch = web
        text = web_yaml(updateStrategy="{type: RollingUpdate, rollingUpdate: {partition: 2}}")
        text = text.replace("  replicas: 2\n", "  replicas: 3\n", 1)
        run.write("web.yaml", text)
        run.start()
        wait_until(lambda: members_are(run, ["web-0", "web-1", "web-2"]), 90, what="3 members")

        def revisions() -> dict[str, str]:
            return {p["metadata"]["name"]: p["metadata"]["labels"]["controller-revision-hash"]
                    for p in run.pods() if p["metadata"]["name"].startswith("web-")}

        before = revisions()
        v2 = text.replace("      - name: nginx\n",
                          "      - name: nginx\n        env: [{name: VERSION, value: \"2\"}]\n", 1)
        run.write("web.yaml", v2)
        wait_until(lambda: len(watch.uids("web-2")) == 2 and members_are(
            run, ["web-0", "web-1", "web-2"]), 60, what="web-2 replaced")
        time.sleep(3)  # a resync or two: nothing below the partition may move
        after = revisions()
        assert after["web-2"] != before["web-2"], (before, after)
        assert {n: after[n] for n in ("web-0", "web-1")} == \
            {n: before[n] for n in ("web-0", "web-1")}, (before, after)
        assert [len(watch.uids(n)) for n in ("web-0", "web-1")] == [1, 1], watch.timeline()

        # OnDelete: the template changes again, nothing moves until a pod is deleted.
        v3 = v2.replace("{type: RollingUpdate, rollingUpdate: {partition: 2}}",
                        "{type: OnDelete}").replace('value: "2"', 'value: "3"')
        run.write("web.yaml", v3)
        time.sleep(3)
        assert [len(watch.uids(n)) for n in ("web-0", "web-1", "web-2")] == [1, 1, 2]
        run.cli("delete", "pod", "web-1")
        wait_until(lambda: len(watch.uids("web-1")) == 2 and members_are(
            run, ["web-0", "web-1", "web-2"]), 60, what="web-1 recreated")
        assert exec_out(run, "web-1", "echo $VERSION").strip() == "3"
        assert exec_out(run, "web-2", "echo $VERSION").strip() == "2"
        assert exec_out(run, "web-0", "echo $VERSION").strip() == ""
        print("\n" + watch.timeline())

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

    def test_kill9_mid_scale_up_then_restart(self, web: tuple[ServiceRun, PodWatch]) -> None:
        """kill -9 while scaling up: the restart finishes in order, no member made twice."""
        run, watch = web
        run.start()
        wait_until(lambda: members_are(run, ["web-0", "web-1"]) and pods_by_node(run, "client"),
                   90, what="web-0, web-1 and the client")
        exec_out(run, "web-1", "echo kept > /usr/share/nginx/html/index.html")
        set_replicas(run, 4)
        wait_until(lambda: watch.uids("web-2"), 30, what="web-2 created")
        run.kill9()
        run.start()
        wait_until(lambda: members_are(run, [f"web-{i}" for i in range(4)]), 90,
                   what="4 members after the restart")
        time.sleep(2)  # a few more syncs: nothing may be made again
        print("\n" + watch.timeline())
        assert [len(watch.uids(f"web-{i}")) for i in range(4)] == [1, 1, 1, 1], watch.timeline()
        assert watch.created("web-3") >= watch.ready_at("web-2"), watch.timeline()
        # Two containers (sandbox and nginx) per member and for the client: none left over.
        assert len(containers(run.prefix)) == 10, containers(run.prefix)
        assert volumes(run.prefix) == {f"www-web-{i}" for i in range(4)}
        assert http_get(run, "client", "web-1.nginx") == "kept"


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
