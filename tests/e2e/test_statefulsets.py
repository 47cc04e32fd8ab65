"""End to end: StatefulSets on the real engine (issue 10).

Each test runs `reconciler run` on its own folder holding the Kubernetes website's
StatefulSet example (application/web/web.yaml), copied unchanged or with the one
field a test is about added, with registry.k8s.io/nginx-slim:0.8 mapped to the local
reconciler/nginx-slim:1 (scripts/build-images.sh). It checks ordered scaling,
updates, retention and restarts against a timeline of the store
(statefulsets_kit.PodWatch), with the service proxy off. What needs the proxy
(per-pod DNS, ordered start, another namespace, two hosts) is in
test_statefulsets_dns.py; the DNS side alone, with plain Pods, is
tests/e2e/test_headless_dns.py.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.service import ServiceRun, containers, wait_until
from tests.e2e.services_kit import exec_out, pods_by_node
from tests.e2e.statefulsets_kit import (
    PodWatch,
    members_are,
    set_events,
    set_replicas,
    volumes,
    web_service,
    web_yaml,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


@pytest.fixture
def web(svc_factory: list[ServiceRun], tmp_path: Path) -> Iterator[tuple[ServiceRun, PodWatch]]:
    """The service with no proxy (not started yet) on a folder holding web.yaml as
    published and a client pod (statefulsets_kit.web_service)."""
    with web_service(svc_factory, tmp_path, proxy=False) as got:
        yield got


@pytest.mark.skipif(importlib.util.find_spec("reconciler.control.statefulsets") is None,
                    reason="the StatefulSet controller (reconciler/control/statefulsets.py) "
                           "is not there yet")
class TestWebExample:
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
        assert exec_out(run, "web-1", "cat /usr/share/nginx/html/index.html").strip() == "kept"
