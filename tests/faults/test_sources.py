"""Fault suite: desired sources that cannot be read whole (issue 14, items 1, 2 and 8).

Each test injects one fault into where the desired state comes from (the
folder moved away or deleted, a subfolder on a mount that is gone, a file
vanishing between listing and reading, a git branch moving under the load, a
lock file a killed git left), then checks what must hold: every declared
object is still recorded, no pod record got a deletion mark, the fault is
reported (a SourceUnreadable event and the desired-source component naming the
path and the errno), and once the fault ends the next pass applies again.

The control plane is tests/integration/control/harness.py (a real SQLite
store, every controller, the real DesiredController, in-memory hosts); git
runs against real repositories through the real GitSource and GitDesired; the
last test runs the real service on the local Docker engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from reconciler.api.types import Key, LoadResult
from reconciler.control.desired import DESIRED_KEY, DesiredController
from reconciler.control.revisions import GatedDesired, GitDesired
from reconciler.manifests import loader as loader_module
from reconciler.sources.git import GitSource
from tests.e2e.service import cli, service, wait_until
from tests.integration.control.harness import Cluster

NODES = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: a}
spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}
"""


def rc(name: str, replicas: int, rev: str = "1") -> str:
    return f"""\
apiVersion: v1
kind: ReplicationController
metadata: {{name: {name}, labels: {{rev: "{rev}"}}}}
spec:
  replicas: {replicas}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: main, image: reconciler/busybox:1, command: [sleep, "3600"]}}]
"""


def pod(name: str) -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers: [{{name: main, image: reconciler/busybox:1, command: [sleep, "3600"]}}]
"""


def service_doc(name: str) -> str:
    return f"""\
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}
"""


WEB = Key("ReplicationController", "default", "web")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Nodes and a Pod at the root; an RC in team/ and a Pod in team/deep/, converged."""
    c = Cluster(tmp_path)
    c.write("nodes.yaml", NODES)
    c.write("db-pod.yaml", pod("db"))
    (c.desired / "team" / "deep").mkdir(parents=True)
    c.write("team/web-rc.yaml", rc("web", 2))
    c.write("team/deep/cache-pod.yaml", pod("cache"))
    c.converge(2)
    assert len(c.running()) == 4
    yield c
    c.store.close()


def assert_nothing_lost(c: Cluster, keys: set[Key], running: list[str]) -> None:
    """Every object recorded before is still there, and no pod is marked for deletion."""
    assert {o.key for o in c.store.objects()} == keys
    assert [p.name for p in c.store.list_pods() if p.deletion_timestamp is not None] == []
    assert c.running() == running


def assert_reported(c: Cluster, *words: str) -> None:
    """The desired-source component is unhealthy and an event says why, both naming `words`."""
    healthy, message = c.ctx.components["desired-source"]
    assert not healthy
    events = [e for e in c.store.list_events(kind="Source") if e.reason == "SourceUnreadable"]
    assert events and events[-1].type == "Warning"
    assert sum(e.count for e in events) == 1  # once per distinct fault, not once per retry
    for word in words:
        assert word in message and word in events[-1].message


def assert_healthy(c: Cluster) -> None:
    assert c.ctx.components["desired-source"][0]


class TestFolderFaults:
    def test_root_renamed_away(self, cluster: Cluster, tmp_path: Path) -> None:
        """The desired folder moved away: nothing is deleted; moved back, it applies again."""
        keys, running = {o.key for o in cluster.store.objects()}, cluster.running()
        cluster.desired.rename(tmp_path / "moved")
        cluster.converge(2)
        assert_nothing_lost(cluster, keys, running)
        assert_reported(cluster, "the desired folder (root)", "ENOENT")
        (tmp_path / "moved").rename(cluster.desired)
        cluster.write("team/web-rc.yaml", rc("web", 3))
        cluster.converge(2)
        assert_healthy(cluster)
        assert len(cluster.running()) == 5

    def test_root_deleted(self, cluster: Cluster) -> None:
        """The desired folder deleted outright: a missing root is never "delete everything"."""
        keys, running = {o.key for o in cluster.store.objects()}, cluster.running()
        shutil.rmtree(cluster.desired)
        cluster.converge(2)
        assert_nothing_lost(cluster, keys, running)
        assert_reported(cluster, "ENOENT")

    def test_root_dangling_symlink(self, tmp_path: Path) -> None:
        """The desired folder is a symlink whose target went (a mount gone): nothing is deleted."""
        data = tmp_path / "data"
        data.mkdir()
        (data / "nodes.yaml").write_text(NODES)
        (data / "db-pod.yaml").write_text(pod("db"))
        (tmp_path / "desired").symlink_to(data)
        c = Cluster(tmp_path)
        try:
            c.converge(2)
            keys, running = {o.key for o in c.store.objects()}, c.running()
            assert running == ["db"]
            data.rename(tmp_path / "elsewhere")
            c.converge(2)
            assert_nothing_lost(c, keys, running)
            assert_reported(c, "ENOENT")
        finally:
            c.store.close()

    def test_subfolder_mount_gone(self, cluster: Cluster, tmp_path: Path) -> None:
        """A subfolder replaced by a symlink to a mount that is gone: its objects stay."""
        keys, running = {o.key for o in cluster.store.objects()}, cluster.running()
        (cluster.desired / "team").rename(tmp_path / "team-moved")
        (cluster.desired / "team").symlink_to(tmp_path / "mnt" / "team")
        cluster.write("db-pod.yaml", pod("db2"))  # a change elsewhere waits too: all or nothing
        cluster.converge(2)
        assert_nothing_lost(cluster, keys, running)
        assert_reported(cluster, "team", "ENOENT")

    def test_file_vanishes_between_listing_and_reading(
        self, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file listed, then gone before it is read (a tree being rewritten): nothing applies."""
        keys, running = {o.key for o in cluster.store.objects()}, cluster.running()
        real = loader_module._discover
        victim = "team/web-rc.yaml"

        def discover_then_remove(folder: Path, display: str) -> Any:
            found = real(folder, display)
            (cluster.desired / victim).unlink(missing_ok=True)
            # As scandir lists it and its stat then fails: nothing known about it but its name.
            return found._replace(files=[(n, p, None if n == victim else st)
                                         for n, p, st in found.files])

        monkeypatch.setattr(loader_module, "_discover", discover_then_remove)
        cluster.converge(1)
        assert_nothing_lost(cluster, keys, running)
        assert_reported(cluster, victim, "ENOENT")
        monkeypatch.undo()
        cluster.converge(2)  # the next listing no longer has it: now it is a removal
        assert WEB not in {o.key for o in cluster.store.objects()}
        assert_healthy(cluster)

    def test_empty_folder_deletes_everything(self, cluster: Cluster) -> None:
        """An existing, readable, empty folder legitimately declares nothing (as Flux prunes)."""
        for child in list(cluster.desired.iterdir()):
            if child.name != "nodes.yaml":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        cluster.converge(2)
        assert [o.key.kind for o in cluster.store.objects()] == ["Node"]
        assert cluster.running() == []
        assert_healthy(cluster)

    def test_invalid_manifest_keeps_last_valid(self, cluster: Cluster) -> None:
        """A file that fails to parse keeps its objects (stale) while the rest still applies."""
        cluster.write("team/web-rc.yaml", "kind: [unclosed\n")
        cluster.write("extra-pod.yaml", pod("extra"))
        cluster.converge(2)
        web = cluster.store.get_object(WEB)
        assert web is not None and web.stale
        assert "extra" in cluster.running() and len(cluster.running()) == 5
        assert_healthy(cluster)


# -- git --------------------------------------------------------------------------------

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=True).stdout.strip()


class Upstream:
    """A bare repository the source fetches, and a clone the test commits from."""

    def __init__(self, tmp: Path) -> None:
        self.bare = tmp / "desired.git"
        self.work = tmp / "work"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(tmp, "clone", "-q", str(self.bare), str(self.work))
        git(self.work, "checkout", "-q", "-b", "main")

    def commit(self, files: dict[str, str | None], subject: str) -> str:
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", subject)
        git(self.work, "push", "-q", "-f", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")

    def move_branch(self, sha: str) -> None:
        git(self.bare, "update-ref", "refs/heads/main", sha)


def git_desired(c: Cluster, url: str, tmp: Path, interval: float = 30.0
                ) -> tuple[GitDesired, GatedDesired, DesiredController]:
    source = GitSource(url, "main", tmp / "checkout", interval=interval)
    gd = GitDesired(c.ctx, source)
    gd.head = source.update()
    inner = DesiredController(c.ctx, gd.root)
    return gd, gd.controller(inner), inner


class TestGitFaults:
    def test_branch_moved_back_and_forth_while_loading(self, tmp_path: Path) -> None:
        """The branch flips between two commits during loads: every applied load has the RC."""
        up = Upstream(tmp_path)
        # Both commits declare RC web, from different paths, among many files that differ:
        # moving between them deletes one copy and writes the other.
        a = up.commit({"nodes.yaml": NODES, "apps/web-rc.yaml": rc("web", 2, "a"),
                       **{f"apps/svc-{i}.yaml": service_doc(f"a{i}") for i in range(150)}}, "a")
        b = up.commit({"apps/web-rc.yaml": None,
                       **{f"apps/svc-{i}.yaml": None for i in range(150)},
                       "web-rc.yaml": rc("web", 2, "b"),
                       **{f"more/svc-{i}.yaml": service_doc(f"b{i}") for i in range(150)}}, "b")
        c = Cluster(tmp_path)
        try:
            gd, gated, inner = git_desired(c, str(up.bare), tmp_path, interval=0.01)
            applied: list[LoadResult] = []
            real_apply = inner.apply

            def recording_apply(result: LoadResult) -> Any:
                applied.append(result)
                return real_apply(result)

            inner.apply = recording_apply  # type: ignore[method-assign]
            stop = threading.Event()
            moves = 0

            def mover() -> None:
                nonlocal moves
                for i in range(24):
                    target = a if i % 2 == 0 else b
                    up.move_branch(target)
                    gd.request_sync()
                    deadline = time.monotonic() + 30
                    while gd.head != target and time.monotonic() < deadline:
                        time.sleep(0.005)
                    moves += 1
                stop.set()

            gd.start(stop)
            thread = threading.Thread(target=mover)
            thread.start()
            passes = 0
            while not stop.is_set() or passes < 3:
                gated.reconcile(DESIRED_KEY)
                passes += 1
                assert c.store.get_object(WEB) is not None, f"RC gone after pass {passes}"
            thread.join(60)
            assert moves == 24
            assert applied and all(any(o.key == WEB for o in r.objects) for r in applied), \
                "an applied load lacked the RC both commits declare"
            print(f"\ngit flips: {moves} moves, {passes} passes, {len(applied)} loads applied")
        finally:
            c.store.close()

    def test_stale_index_lock_is_recovered(self, tmp_path: Path) -> None:
        """An index.lock a killed git left behind: removed, and the next revision applies."""
        up = Upstream(tmp_path)
        up.commit({"nodes.yaml": NODES, "db-pod.yaml": pod("db")}, "one")
        c = Cluster(tmp_path)
        try:
            gd, gated, _ = git_desired(c, str(up.bare), tmp_path, interval=0.05)
            gated.reconcile(DESIRED_KEY)
            lock = gd.root / ".git" / "index.lock"
            lock.write_text("")
            old = time.time() - 60
            os.utime(lock, (old, old))
            two = up.commit({"web-rc.yaml": rc("web", 1)}, "two")
            stop = threading.Event()
            gd.start(stop)
            try:
                wait_until(lambda: gd.head == two, timeout=30, what="the new head fetched")
            finally:
                stop.set()
                gd.request_sync()
            gated.reconcile(DESIRED_KEY)
            record = c.store.revision()
            assert record is not None and record.revision == two
            assert c.store.get_object(WEB) is not None
            assert not lock.exists()
        finally:
            c.store.close()

    def test_credentials_never_shown(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
        """A token in the git URL is in no log line, event, `get revision` or `cluster-info`."""
        up = Upstream(tmp_path)
        up.commit({"nodes.yaml": NODES, "db-pod.yaml": pod("db")}, "one")
        url = "https://deploy:s3cr3t-t0ken@git.example.invalid/team/desired.git"
        # git resolves the URL to the local repository: no traffic leaves the machine.
        monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
        monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{up.bare}.insteadOf")
        monkeypatch.setenv("GIT_CONFIG_VALUE_0", url)
        c = Cluster(tmp_path)
        try:
            gd, gated, _ = git_desired(c, url, tmp_path)
            gated.reconcile(DESIRED_KEY)
            up.bare.rename(tmp_path / "gone.git")  # the next fetch fails, naming the URL
            stop = threading.Event()
            with caplog.at_level("INFO"):
                gd.start(stop)
                try:
                    wait_until(lambda: not c.ctx.components.get("git-source", (True, ""))[0],
                               timeout=30, what="the failed fetch reported")
                finally:
                    stop.set()
                    gd.request_sync()
            shown = cli("get", "revision", state=tmp_path / "state.db").stdout
            shown += cli("cluster-info", state=tmp_path / "state.db",
                         env={**os.environ, "RECONCILER_GIT_URL": url}).stdout
            events = " ".join(e.message for e in c.store.list_events())
            healthy, component = c.ctx.components["git-source"]  # what `get cs` shows
        finally:
            c.store.close()
        assert not healthy and "***@git.example.invalid" in component
        for text in (shown, caplog.text, events, component):
            assert "s3cr3t" not in text and "deploy:" not in text
        assert "git.example.invalid" in shown and "***@" in shown
        assert "***@git.example.invalid" in caplog.text


# -- the real service ------------------------------------------------------------------

POD_SLEEP = pod("keeper")


@pytest.mark.docker
class TestServiceFaults:
    def test_folder_moved_away_under_the_service(
        self, tmp_path: Path, docker_client: docker.DockerClient, local_images: None
    ) -> None:
        """The service's desired folder is moved away: the pod keeps running, `get cs` says why."""
        with service(tmp_path, args=("--proxy-mode", "off")) as run:
            run.write("keeper.yaml", POD_SLEEP)
            wait_until(lambda: [p["metadata"]["name"] for p in run.running()] == ["keeper"],
                       timeout=120, what="the pod running")
            uid = run.pods()[0]["metadata"]["uid"]
            run.desired.rename(tmp_path / "moved")

            def reported() -> str:
                rows = run.cli("get", "cs").stdout.splitlines()
                row = next((r for r in rows if r.startswith("desired-source")), "")
                return row if "ENOENT" in row else ""

            row = wait_until(reported, timeout=60, what="desired-source unhealthy in get cs")
            assert "cannot read" in row
            events = run.cli("get", "events", "-A").stdout
            assert "SourceUnreadable" in events
            time.sleep(3)  # a few passes of the service's retry
            pods = run.pods()
            assert [(p["metadata"]["uid"], p["metadata"].get("deletionTimestamp")) for p in pods] \
                == [(uid, None)]
            assert run.running()
            (tmp_path / "moved").rename(run.desired)
            wait_until(lambda: "ENOENT" not in run.cli("get", "cs").stdout, timeout=60,
                       what="desired-source healthy again")
            assert [p["metadata"]["uid"] for p in run.running()] == [uid]
