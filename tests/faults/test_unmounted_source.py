"""Fault suite: the desired folder is a mount, and the mount goes.

An unmounted mount point is an empty folder on the filesystem beneath, which
would otherwise read as a legitimate "delete everything". Each test mounts a
real tmpfs on the desired folder, converges, unmounts it (as a failed NFS or
USB mount does), and checks that nothing declared is lost, while running and
after a restart on the same store, and that the service says why
(`SourceEmptied` in the events and `get cs`). An empty manifest file left in
the folder is the way to delete everything on purpose.

The control plane is tests/integration/control/harness.py (a real SQLite
store, every controller, the real DesiredController, in-memory hosts); the
last test runs the real service on the local Docker engine.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from sqlalchemy import text

from reconciler.control.sourceguard import COMPONENT, EMPTIED
from reconciler.manifests import discover as discover_module
from tests.e2e.service import service, wait_until
from tests.faults.test_sources import NODES, assert_nothing_lost, pod, rc
from tests.integration.control.harness import Cluster

MANIFESTS = {"nodes.yaml": NODES, "db-pod.yaml": pod("db"), "web-rc.yaml": rc("web", 2)}


def mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], check=True)


def unmount(path: Path) -> None:
    if subprocess.run(["mountpoint", "-q", str(path)]).returncode == 0:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextlib.contextmanager
def mounted_desired(tmp: Path) -> Iterator[Path]:
    """tmp/desired with a tmpfs mounted on it (skipped where mounting is not allowed)."""
    desired = tmp / "desired"
    try:
        mount_tmpfs(desired)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    try:
        yield desired
    finally:
        unmount(desired)


def write_all(folder: Path, files: dict[str, str]) -> None:
    for name, body in files.items():
        (folder / name).write_text(body)


def revisions(c: Cluster) -> list[tuple[str, int | None]]:
    with c.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT revision, device FROM revisions ORDER BY id"))
        return [(r[0], r[1]) for r in rows]


def assert_held(c: Cluster) -> None:
    """desired-source unhealthy and one SourceEmptied event, both naming the mount."""
    healthy, message = c.ctx.components[COMPONENT]
    assert not healthy and "mount is gone" in message and "empty manifest file" in message
    events = [e for e in c.store.list_events(kind="Source") if e.reason == EMPTIED]
    assert [e.count for e in events] == [1]  # once, not once per retry
    assert events[0].type == "Warning" and events[0].message == message


def restarted(c: Cluster, tmp: Path) -> Cluster:
    """A fresh plane on the same store and hosts, as after a restart."""
    again = Cluster(tmp, c.state)
    again.hosts = c.hosts
    again.ctx.agent_factory = c.hosts
    return again


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Cluster]:
    """Nodes, a Pod and an RC of two in a mounted desired folder, converged."""
    with mounted_desired(tmp_path) as desired:
        write_all(desired, MANIFESTS)
        c = Cluster(tmp_path)
        try:
            c.converge(2)
            assert len(c.running()) == 3
            yield c
        finally:
            c.store.close()


class TestMountGone:
    def test_unmounted_while_running_keeps_everything(self, mounted: Cluster) -> None:
        """The mount goes under a running plane: nothing deleted; back, it applies again."""
        c = mounted
        keys, running = {o.key for o in c.store.objects()}, c.running()
        unmount(c.desired)
        assert list(c.desired.iterdir()) == []
        c.converge(3)
        assert_nothing_lost(c, keys, running)
        assert_held(c)
        mount_tmpfs(c.desired)
        write_all(c.desired, {**MANIFESTS, "web-rc.yaml": rc("web", 3)})
        c.converge(2)
        assert c.ctx.components[COMPONENT][0]
        assert len(c.running()) == 4

    def test_restart_with_the_mount_gone_keeps_everything(self, mounted: Cluster,
                                                          tmp_path: Path) -> None:
        """A restart (a boot whose mount failed) on the same store still deletes nothing."""
        keys, running = {o.key for o in mounted.store.objects()}, mounted.running()
        unmount(mounted.desired)
        again = restarted(mounted, tmp_path)  # the device comes from the store
        try:
            again.converge(3)
            assert {o.key for o in again.store.objects()} == keys
            assert [p.name for p in again.store.list_pods()
                    if p.deletion_timestamp is not None] == []
            assert sorted(running) == sorted(again.running())
            assert_held(again)
        finally:
            again.store.close()

    def test_an_empty_manifest_file_deletes_everything_on_purpose(
        self, mounted: Cluster
    ) -> None:
        """On the filesystem beneath, one empty manifest file is a deliberate "delete all"."""
        c = mounted
        unmount(c.desired)
        c.converge(1)
        assert_held(c)
        (c.desired / "empty.yaml").write_text("")
        c.converge(3)
        assert list(c.store.objects()) == []
        assert c.running() == []
        assert c.ctx.components[COMPONENT][0]
        # The new filesystem is recorded with the revision: emptying it again is no mount gone.
        assert revisions(c)[-1][1] == c.desired.stat().st_dev

    def test_an_emptied_folder_on_the_same_filesystem_deletes_everything(
        self, mounted: Cluster
    ) -> None:
        """Files removed from the mounted folder itself: a "delete everything", as before."""
        for path in list(mounted.desired.iterdir()):
            path.unlink()
        mounted.converge(3)
        assert list(mounted.store.objects()) == []
        assert mounted.running() == []

    def test_a_mount_flapping_during_the_top_listing_deletes_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Unmounted just before the folder is listed, back just after: nothing is deleted."""
        desired = tmp_path / "desired"
        desired.mkdir()
        with mounted_desired(tmp_path / "src") as source:
            bind = ["mount", "--bind", str(source), str(desired)]
            subprocess.run(bind, check=True)
            write_all(desired, MANIFESTS)
            c = Cluster(tmp_path)
            try:
                c.converge(2)
                keys, running = {o.key for o in c.store.objects()}, c.running()
                real_scandir = discover_module.os.scandir
                flapped = False

                def scandir_during_a_flap(path: Any) -> Any:
                    nonlocal flapped
                    if flapped:
                        return real_scandir(path)
                    flapped = True
                    unmount(desired)  # the same filesystem is bound again right after
                    try:
                        return iter(list(real_scandir(path)))
                    finally:
                        subprocess.run(bind, check=True)

                monkeypatch.setattr(discover_module.os, "scandir", scandir_during_a_flap)
                c.converge(1)
                assert flapped
                monkeypatch.undo()
                assert_nothing_lost(c, keys, running)
            finally:
                c.store.close()
                unmount(desired)

    def test_a_row_without_device_gets_it_without_a_new_revision(
        self, mounted: Cluster, tmp_path: Path
    ) -> None:
        """A store from before the device column: the next pass records it in place."""
        before = revisions(mounted)
        assert before and before[-1][1] == mounted.desired.stat().st_dev
        with mounted.store.engine.begin() as conn:
            conn.execute(text("UPDATE revisions SET device = NULL"))
        again = restarted(mounted, tmp_path)
        try:
            again.converge(1)
            assert revisions(again) == before
        finally:
            again.store.close()


POD = pod("keeper")


@pytest.mark.docker
class TestServiceMountGone:
    def test_the_service_keeps_its_pod_when_the_mount_goes_and_after_a_restart(
        self, tmp_path: Path, docker_client: docker.DockerClient, local_images: None
    ) -> None:
        """`reconciler run` on a mounted folder: unmounted, then restarted, the pod runs on."""
        with (mounted_desired(tmp_path / "mnt") as desired,
              service(tmp_path, desired=desired, args=("--proxy-mode", "off")) as run):
            run.write("keeper.yaml", POD)
            wait_until(lambda: [p["metadata"]["name"] for p in run.running()] == ["keeper"],
                       timeout=120, what="the pod running")
            uid = run.pods()[0]["metadata"]["uid"]
            unmount(desired)

            def reported() -> str:
                rows = run.cli("get", "cs").stdout.splitlines()
                row = next((r for r in rows if r.startswith("desired-source")), "")
                return row if "mount is gone" in row else ""

            wait_until(reported, timeout=60, what="desired-source unhealthy in get cs")
            assert EMPTIED in run.cli("get", "events", "-A").stdout
            time.sleep(3)  # a few passes of the service's retry
            assert [(p["metadata"]["uid"], p["metadata"].get("deletionTimestamp"))
                    for p in run.pods()] == [(uid, None)]
            run.stop()
            run.start()  # as after a boot whose mount failed
            wait_until(reported, timeout=60, what="unhealthy again after the restart")
            time.sleep(3)
            assert [p["metadata"]["uid"] for p in run.running()] == [uid]
            assert not [p for p in run.pods() if p["metadata"].get("deletionTimestamp")]
            mount_tmpfs(desired)
            (desired / "keeper.yaml").write_text(POD)
            wait_until(lambda: "mount is gone" not in run.cli("get", "cs").stdout,
                       timeout=60, what="desired-source healthy again")
            assert [p["metadata"]["uid"] for p in run.running()] == [uid]
