"""End to end: Deployments on the real service and engine (issue 16).

The Kubernetes website's nginx Deployment as committed (images mapped to a
local busybox httpd); zero-downtime rolling updates behind a Service with a
request stream on its cluster IP; a template that never becomes ready; rollback
by restoring the old template; kill -9 of the service mid-rollout; new pods
spread over two hosts; a host lost mid-rollout (two netns hosts of this file's
own, hostp and hostq: the shared hostb is never stopped). Bounds are read from a watch of the store
(`deployments_kit.RolloutWatch`), never from timings.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import Host
from tests.e2e.daemonsets_kit import ENGINES, netns_host, nodes_yaml
from tests.e2e.deployments_kit import (
    NGINX_IMAGE,
    NGINX_MAP,
    NGINX_YAML,
    RolloutWatch,
    complete,
    deployment_pods,
    events_of,
    node_ready,
    replica_sets,
    rolled,
    scaling_events,
    sizes,
    start,
    web,
)
from tests.e2e.service import ROOT, ServiceRun, containers, remove_all, wait_until
from tests.e2e.services_kit import NODES, pods_by_node

# Generous: on a machine shared with load the engine can take minutes to start a few pods.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


class TestNginxExample:
    def test_runs_three_replicas_and_rolls_one_surge_at_a_time(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """The website's nginx Deployment: 3 replicas; 1.14.2 -> 1.16.1 rolls one pod at a time."""
        if not NGINX_YAML.exists():
            pytest.skip(f"{NGINX_YAML} not found (the shared Kubernetes corpus)")
        build = subprocess.run([str(ROOT / "scripts" / "build-images.sh")], capture_output=True,
                               text=True, timeout=120, check=False)
        if build.returncode != 0:
            pytest.skip(f"cannot build {NGINX_IMAGE}: {build.stderr}")
        run = start(svc_factory, tmp_path,
                    extra_env={"RECONCILER_RUNTIME_IMAGE_MAP": NGINX_MAP})
        shutil.copyfile(NGINX_YAML, run.desired / "nginx-deployment.yaml")
        run.start()
        name = "nginx-deployment"
        wait_until(lambda: complete(run, 3, name), 180, what="3 replicas rolled out")
        [first] = sizes(run, name)
        assert re.fullmatch(r"nginx-deployment-[bcdfghjklmnpqrstvwxz2456789]+", first)
        assert len(pods_by_node(run, first + "-")) == 3

        watch = RolloutWatch(run, name)
        try:
            text = NGINX_YAML.read_text()
            assert "nginx:1.14.2" in text
            run.write("nginx-deployment.yaml", text.replace("nginx:1.14.2", "nginx:1.16.1"))
            wait_until(lambda: len(sizes(run, name)) == 2 and complete(run, 3, name), 240,
                       what="the rollout to 1.16.1")
        finally:
            watch.stop()
        # 25% of 3: maxSurge 1 (rounded up), maxUnavailable 0 (rounded down).
        assert watch.max_live() <= 4, [s.live for s in watch.samples]
        assert sizes(run, name)[first] == 0
        events = scaling_events(run, name)
        print("\n" + "\n".join(events))
        steps = [m for m in events if "from 0 to 3" not in m]
        assert steps, events
        for message in steps:
            got = re.search(r"from (\d+) to (\d+)$", message)
            assert got is not None and abs(int(got[1]) - int(got[2])) == 1, message


class TestRollback:
    def test_rollback_brings_back_the_same_replica_set(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """Restoring the old template scales the old ReplicaSet up: same name and uid."""
        run = start(svc_factory, tmp_path)
        run.start()
        run.write("web.yaml", web("v1", replicas=2))
        wait_until(lambda: rolled(run, 2), 90, what="v1 rolled out")
        first = replica_sets(run)
        run.write("web.yaml", web("v2", replicas=2))
        wait_until(lambda: len(sizes(run)) == 2 and rolled(run, 2), 90,
                   what="v2 rolled out")
        run.write("web.yaml", web("v1", replicas=2))
        wait_until(lambda: rolled(run, 2) and all(
            sizes(run)[n] == 2 for n in first), 90, what="back on v1")
        back = replica_sets(run)
        assert len(back) == 2
        for name, rs in first.items():
            assert back[name].uid == rs.uid
            assert back[name].body["metadata"]["annotations"][
                "deployment.kubernetes.io/revision"] == "3"


class TestRestart:
    def test_kill9_mid_rollout_continues_without_surplus(
        self, svc_factory: list[ServiceRun], tmp_path: Path,
    ) -> None:
        """kill -9 mid-rollout, restart: it finishes, never beyond replicas + maxSurge pods,
        one ReplicaSet per template."""
        run = start(svc_factory, tmp_path)
        run.start()
        # Readiness after 3 s: a rollout of 6 takes several steps, room for the kill.
        run.write("web.yaml", web("v1", replicas=6, delay=3))
        wait_until(lambda: rolled(run, 6), 120, what="v1 rolled out")
        watch = RolloutWatch(run)
        try:
            run.write("web.yaml", web("v2", replicas=6, delay=3))
            wait_until(lambda: any(0 < size < 6 for size in sizes(run).values())
                       and len(sizes(run)) == 2, 60, what="the rollout under way")
            run.stop(signal.SIGKILL)
            mid = sizes(run)
            print(f"\nkilled at {mid}")
            again = start(svc_factory, tmp_path, prefix=run.prefix)
            again.start()
            wait_until(lambda: rolled(again, 6), 180, what="v2 rolled out after restart")
        finally:
            watch.stop()
        # 25% of 6: maxSurge 2, maxUnavailable 1.
        assert watch.max_live() <= 8, [s.live for s in watch.samples]
        assert len(replica_sets(again)) == 2
        assert all(len(uids) == 1 for uids in watch.rs_uids.values()), watch.rs_uids
        assert set(mid) <= set(sizes(again))


@pytest.mark.twohosts
class TestTwoHosts:
    def test_new_pods_spread_over_both_hosts(
        self, svc_factory: list[ServiceRun], tmp_path: Path, hostb: Host,
    ) -> None:
        """A rollout of 4 on two hosts: the new ReplicaSet's pods run on both."""
        run = start(svc_factory, tmp_path)
        run.write("nodes.yaml", NODES)
        run.start()
        run.write("web.yaml", web("v1"))
        wait_until(lambda: rolled(run, 4), 120, what="v1 rolled out")
        run.write("web.yaml", web("v2"))
        wait_until(lambda: len(sizes(run)) == 2 and rolled(run, 4), 120,
                   what="v2 rolled out")
        new = next(n for n, size in sizes(run).items() if size == 4)
        placed = pods_by_node(run, new + "-")
        print(f"\nnew pods: {placed}")
        assert set(placed.values()) == {"local", "hostb"}, placed


LOST_PAIR = ("hostp", "hostq")


@pytest.fixture
def own_pair(svc_factory: list[ServiceRun], tmp_path: Path) -> Iterator[ServiceRun]:
    """The service (not started) on hostp and hostq, two hosts of this test's own; afterwards
    both engines run again, the service is stopped, its containers removed, the hosts gone."""
    for name in LOST_PAIR:
        up = netns_host(name, "up")
        if up.returncode != 0:
            for made in LOST_PAIR:
                netns_host(made, "down")
            pytest.skip(f"Docker host {name} unavailable: {up.stderr.strip() or up.stdout}")
    # NotReady after 5 s without a heartbeat, evicted after 30 s: a live host's one slow
    # heartbeat on a loaded machine (the API timeout is 10 s) never evicts its pods.
    run = ServiceRun(tmp_path, args=("--proxy-mode", "off"), extra_env={
        "RECONCILER_NODE_NOT_READY_TIMEOUT": "5s",
        "RECONCILER_NODE_EVICTION_TIMEOUT": "30s"})
    svc_factory.append(run)
    try:
        yield run
    finally:
        for name in LOST_PAIR:
            _resume(name)
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        for name in LOST_PAIR:
            remove_all(run.prefix, ENGINES[name])
            netns_host(name, "down")


def _dockerd(name: str) -> str:
    return Path(f"/var/run/docker-{name}.pid").read_text().strip()


def _resume(name: str) -> None:
    pid = Path(f"/var/run/docker-{name}.pid")
    if pid.exists():
        subprocess.run(["kill", "-CONT", pid.read_text().strip()], check=False)


def app_pods(prefix: str, url: str) -> list[str]:
    """The pod name of each `web` app container of the service on one engine."""
    return [name.split("_")[2] for name in containers(prefix, url)
            if name.startswith(f"{prefix}_web_")]


@pytest.mark.timeout(900)
class TestHostLost:
    def test_rollout_survives_a_host_lost_mid_way(self, own_pair: ServiceRun) -> None:
        """6 replicas on two hosts; one host's engine hangs mid-rollout: it goes NotReady, its
        pods are replaced on the other host, the rollout completes there within maxSurge and
        `rollout status` succeeds; back, the host's stale containers go, nothing runs twice."""
        run = own_pair
        run.write("nodes.yaml", nodes_yaml({name: {} for name in LOST_PAIR}))
        # Readiness after 3 s: a rollout of 6 takes several steps, room to lose a host.
        run.write("web.yaml", web("v1", replicas=6, delay=3))
        run.start()
        wait_until(lambda: rolled(run, 6), 240, what="v1 rolled out")
        assert set(pods_by_node(run, "web-").values()) == set(LOST_PAIR)
        [first] = sizes(run)
        watch = RolloutWatch(run)

        def placed() -> dict[str, list[str]]:
            """The new ReplicaSet's live pods by host, once it has some bound."""
            on: dict[str, list[str]] = {}
            for p in deployment_pods(run):
                if p.owner.name != first and p.node_name and p.deletion_timestamp is None:
                    on.setdefault(p.node_name, []).append(p.name)
            return on

        try:
            run.write("web.yaml", web("v2", replicas=6, delay=3))
            on = wait_until(placed, 90, 0.1, what="the rollout under way")
            # A host with new pods hangs (its engine stopped: it answers nothing, its
            # containers keep running): they never become ready there, so the rollout
            # cannot complete without replacing them.
            lost = max(on, key=lambda n: len(on[n]))
            kept = next(n for n in LOST_PAIR if n != lost)
            subprocess.run(["kill", "-STOP", _dockerd(lost)], check=True)
            stopped = time.monotonic()
            print(f"\n{lost} lost at {sizes(run)} with new pods {on}")
            wait_until(lambda: node_ready(run, lost) is False, 90, what=f"{lost} NotReady")
            not_ready_seen, not_ready_at = datetime.now(UTC), time.monotonic()
            stranded = {p.name for p in deployment_pods(run) if p.node_name == lost}
            # kubectl's wait: exit 0 once the rollout is complete, with the host still gone.
            waited = run.cli("rollout", "status", "deploy/web", "--timeout", "5m",
                             check=False, timeout=330)
            assert waited.returncode == 0, waited.stdout + waited.stderr
            assert "successfully rolled out" in waited.stdout, waited.stdout
            print(f"complete {time.monotonic() - stopped:.1f} s after {lost} was lost "
                  f"(NotReady seen after {not_ready_at - stopped:.1f} s)")
            # A NotReady host's pods are not ready (control/nodes.py), so complete means
            # every replica of the new ReplicaSet is on the host left.
            new = _all_on(run, kept, 6)
            assert new, {p.name: (p.node_name, p.ready) for p in deployment_pods(run)}
            assert node_ready(run, lost) is False, "the host stayed lost until here"
        finally:
            watch.stop()
            subprocess.run(["kill", "-CONT", _dockerd(lost)], check=False)
        # 25% of 6: maxSurge 2 (rounded up). Pods on the lost host count until evicted.
        assert watch.max_live() <= 8, [s.live for s in watch.samples]
        assert watch.max_on(kept) <= 8, [len(s.on.get(kept, ())) for s in watch.samples]
        final = {p.name: p for p in deployment_pods(run)}
        assert not stranded & set(final), "the lost host's pods were evicted"
        # Each went by eviction, or by its ReplicaSet's scale-down (then not evicted again).
        evicted = {e.name for e in events_of(run, "Pod", "NodeNotReady")}
        scaled = {e.message.removeprefix("Deleted pod: ")
                  for e in events_of(run, "ReplicaSet", "SuccessfulDelete")}
        assert stranded & evicted and stranded <= evicted | scaled, (stranded, evicted, scaled)
        replacements = [n for n in new if final[n].created_at > not_ready_seen]
        assert replacements, "replacements made after the node went NotReady"
        assert len(replica_sets(run)) == 2
        assert all(len(uids) == 1 for uids in watch.rs_uids.values()), watch.rs_uids

        # Back: Ready again, its stale containers removed; each pod runs once, on kept.
        wait_until(lambda: node_ready(run, lost) is True, 120, what=f"{lost} Ready again")
        wait_until(lambda: not containers(run.prefix, ENGINES[lost]), 120,
                   what=f"no stale containers on {lost}")
        running = app_pods(run.prefix, ENGINES[kept])
        assert sorted(running) == sorted(new), (running, new)
        assert set(pods_by_node(run, "web-")) == set(new)


def _all_on(run: ServiceRun, node: str, replicas: int) -> list[str]:
    """The new ReplicaSet's pod names when the rollout is complete and all run on `node`."""
    if not rolled(run, replicas):
        return []
    [new] = [n for n, size in sizes(run).items() if size == replicas]
    placed = pods_by_node(run, new + "-")
    return sorted(placed) if set(placed.values()) == {node} else []
