"""End to end: replication controllers and replica sets on the real service and engine (issue 4)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.service import ServiceRun, containers, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "k8s-corpus" / "real"

WEB_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {name: web, app: demo}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: reconciler/busybox:1
    command: ["httpd", "-f", "-p", "5000"]
    ports: [{containerPort: 5000, name: http}]
"""

WEB_RC = """\
# The web tier: scaled by editing the number below.
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {name: web, app: demo}
spec:
  replicas: {replicas}   # replicas
  template:
    metadata:
      labels: {name: web, app: demo}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: reconciler/busybox:1
        command: ["httpd", "-f", "-p", "5000"]
        ports: [{containerPort: 5000, name: http}]
"""


def rc_text(replicas: int) -> str:
    return WEB_RC.replace("{replicas}", str(replicas))


def names(pods: list[dict]) -> set[str]:  # type: ignore[type-arg]
    return {p["metadata"]["name"] for p in pods}


def running_count(run: ServiceRun, n: int) -> list[dict] | None:  # type: ignore[type-arg]
    """The running pods when there are exactly `n` of them, else None."""
    pods = run.running()
    return pods if len(pods) == n else None


def start(svc_factory: list[ServiceRun], tmp_path: Path, **kwargs: object) -> ServiceRun:
    run = ServiceRun(tmp_path, args=("--proxy-mode", "off"), **kwargs)  # type: ignore[arg-type]
    svc_factory.append(run)
    return run


class TestSeedSequence:
    def test_adopt_replace_scale_up_and_down(
        self, svc_factory: list[ServiceRun], tmp_path: Path
    ) -> None:
        """Pod web + RC web of 2: one adopted; a deleted replica replaced; 10, then 3 by edits."""
        run = start(svc_factory, tmp_path)
        run.write("web-pod.yaml", WEB_POD)
        run.start()
        wait_until(lambda: len(run.running()) == 1, what="the standalone web pod")
        run.write("web-rc.yaml", rc_text(2))
        pods = wait_until(lambda: running_count(run, 2), 30, what="2 pods under the RC")
        assert "web" in names(pods), "the standalone pod is adopted, not replaced"
        adopted = next(p for p in pods if p["metadata"]["name"] == "web")
        refs = adopted["metadata"].get("ownerReferences", [])
        assert [r["name"] for r in refs] == ["web"] and refs[0]["kind"] == "ReplicationController"
        rc = run.cli("get", "rc", "web").stdout.split("\n")
        assert rc[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        assert rc[1].split()[:4] == ["web", "2", "2", "2"]

        # A replica deleted is replaced under a new name.
        victim = next(n for n in names(pods) if n != "web")
        run.cli("delete", "pod", victim)
        after = wait_until(
            lambda: (p := running_count(run, 2)) and victim not in names(p) and p,
            30,
            what="a replacement replica",
        )
        assert len(names(after) - names(pods)) == 1

        # GitOps scaling: editing the manifest (through `reconciler scale`) converges.
        out = run.cli("scale", "rc", "web", "--replicas=10", "--desired", str(run.desired))
        assert "scaled" in out.stdout
        assert "replicas: 10   # replicas" in (run.desired / "web-rc.yaml").read_text()
        ten = wait_until(lambda: running_count(run, 10), 90, what="10 running pods")
        assert names(after) <= names(ten)

        run.write("web-rc.yaml", rc_text(3))
        three = wait_until(
            lambda: len(run.pods()) == 3 and running_count(run, 3), 60, what="3 pods left"
        )
        # Newer before older: the two pods that ran before scaling up (the adopted pod
        # and the replacement) outlive the eight created seconds later.
        assert names(after) <= names(three)
        app = [c for c in containers(run.prefix) if "_POD_" not in c]
        wait_until(
            lambda: len([c for c in containers(run.prefix) if "_POD_" not in c]) == 3,
            30,
            what=f"3 app containers, not {app}",
        )

    def test_invalid_manifest_keeps_pods(
        self, svc_factory: list[ServiceRun], tmp_path: Path
    ) -> None:
        """An RC manifest edited into invalid YAML touches no pod; fixing it converges."""
        run = start(svc_factory, tmp_path)
        run.write("web-rc.yaml", rc_text(2))
        run.start()
        before = wait_until(lambda: running_count(run, 2), 30, what="2 pods")
        ids = sorted(containers(run.prefix))
        run.write("web-rc.yaml", rc_text(5).replace("  template:", "  template: [oops"))
        wait_until(lambda: "STALE" in run.cli("get", "rc").stdout, 15, what="the stale marker")
        time.sleep(2)
        assert names(run.running()) == names(before)
        assert sorted(containers(run.prefix)) == ids
        events = run.cli("get", "events").stdout
        assert "InvalidManifest" in events
        run.write("web-rc.yaml", rc_text(4))
        wait_until(lambda: len(run.running()) == 4, 30, what="4 pods once fixed")
        assert "STALE" not in run.cli("get", "rc").stdout

    def test_removed_manifest_deletes_its_pods(
        self, svc_factory: list[ServiceRun], tmp_path: Path
    ) -> None:
        """Removing an RC's manifest removes it and its pods (garbage collection by owner)."""
        run = start(svc_factory, tmp_path)
        path = run.write("web-rc.yaml", rc_text(2))
        run.start()
        wait_until(lambda: len(run.running()) == 2, 30, what="2 pods")
        path.unlink()
        wait_until(
            lambda: not run.pods() and not containers(run.prefix),
            30,
            what="no pods and no containers",
        )


class TestSelfHealing:
    def test_containers_removed_by_hand_are_replaced(
        self, svc_factory: list[ServiceRun], tmp_path: Path
    ) -> None:
        """`docker rm -f` of a replica's containers: the pod runs again; prints the time."""
        run = start(svc_factory, tmp_path)
        run.write("web-rc.yaml", rc_text(2))
        run.start()
        pods = wait_until(lambda: running_count(run, 2), 30, what="2 pods")
        victim = sorted(names(pods))[0]

        def running_ids() -> set[str]:
            out = subprocess.run(
                [
                    "docker",
                    "ps",
                    "-q",
                    "--no-trunc",
                    "--filter",
                    f"label=io.reconciler.prefix={run.prefix}",
                    "--filter",
                    f"label=io.reconciler.pod.name={victim}",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return set(out.split())

        doomed = running_ids()
        assert len(doomed) == 2
        started = time.monotonic()
        subprocess.run(["docker", "rm", "-f", *doomed], check=True, capture_output=True)

        def healed() -> bool:
            now = running_ids()
            return len(now) == 2 and not now & doomed and len(run.running()) == 2

        wait_until(healed, 30, 0.05, what="the replica's containers back")
        print(
            f"\ndrift repair: replica running again {time.monotonic() - started:.2f}s "
            "after docker rm -f of its containers"
        )


class TestReplicaSetFromCorpus:
    def test_match_expressions_replicaset_runs(
        self, svc_factory: list[ServiceRun], tmp_path: Path
    ) -> None:
        """kubia-replicaset-matchexpressions.yaml runs unchanged, its image mapped locally."""
        src = (
            CORPUS / "kubernetes-in-action" / "Chapter04" / "kubia-replicaset-matchexpressions.yaml"
        )
        if not src.exists():
            pytest.skip("the shared k8s corpus is absent")
        run = start(
            svc_factory,
            tmp_path,
            extra_env={"RECONCILER_RUNTIME_IMAGE_MAP": "luksa/kubia=reconciler/pause:1"},
        )
        run.write("rs.yaml", src.read_text())
        run.start()
        pods = wait_until(lambda: running_count(run, 3), 60, what="3 kubia pods")
        assert all(n.startswith("kubia-") for n in names(pods))
        rs = run.cli("get", "rs").stdout.split("\n")[1].split()
        assert rs[:4] == ["kubia", "3", "3", "3"]
        described = run.cli("describe", "pod", sorted(names(pods))[0]).stdout
        assert "reconciler/pause:1" in described or "luksa/kubia" in described
