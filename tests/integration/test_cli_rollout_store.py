"""get deploy/rs, describe deployment and rollout as subprocesses on a store the controllers filled.

The store is converged by the real controllers (the deployment controller
among them) over FakeHosts (tests/integration/control/harness.py), from a
desired folder that is a git repository: the CLI then reads exactly what the
service writes, and joins it with the manifest's git log.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from reconciler.cli.rollout_edit import template_of
from reconciler.cli.rollout_history import defaulted
from reconciler.planning.deployment import pod_template_hash
from tests.integration.control import harness
from tests.integration.control.test_statefulsets import NODES
from tests.integration.test_cli_rollout import CLI, cli, deployment, git

KEY = ("Deployment", "default", "web")


def rs_name(image: str) -> str:
    return "web-" + pod_template_hash(defaulted(template_of(deployment(image), *KEY)))


class Rolled:
    """A cluster whose web Deployment went nginx:1.14.2 -> nginx:1.16.1, one commit each."""

    def __init__(self, tmp: Path, state: str | None = None) -> None:
        self.cluster = harness.Cluster(tmp, state)
        self.repo = tmp
        self.desired = self.cluster.desired
        self.state = self.cluster.state
        git(tmp, "init", "-q", "-b", "main")
        git(tmp, "config", "user.name", "t")
        git(tmp, "config", "user.email", "t@example.invalid")
        self.cluster.write("nodes.yaml", NODES)
        for image, subject in (("nginx:1.14.2", "web: first version"),
                               ("nginx:1.16.1", "web: nginx 1.16")):
            self.cluster.write("web.yaml", deployment(image))
            git(tmp, "add", ".")
            git(tmp, "commit", "-qm", subject)
            self.cluster.converge(8)

    def run(self, *args: str) -> str:
        return cli(*args, "--state", self.state).stdout

    def rollout(self, *args: str) -> str:
        return cli("rollout", *args, "--desired", str(self.desired), "--state",
                   self.state).stdout


@pytest.fixture
def rolled(tmp_path: Path) -> Iterator[Rolled]:
    r = Rolled(tmp_path)
    yield r
    r.cluster.store.close()


def cells(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


class TestGetDeployments:
    def test_table_and_wide(self, rolled: Rolled) -> None:
        """kubectl's columns; -o wide adds CONTAINERS IMAGES SELECTOR."""
        rows = cells(rolled.run("get", "deploy"))
        assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert rows[1][:4] == ["web", "3/3", "3", "3"]
        wide = cells(rolled.run("get", "deployments", "-o", "wide"))
        assert wide[0][-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
        assert wide[1][-3:] == ["nginx", "nginx:1.16.1", "app=nginx"]

    def test_json_has_the_status(self, rolled: Rolled) -> None:
        """-o json is the apps/v1 Deployment with the controller's status and conditions."""
        out = json.loads(rolled.run("get", "deploy", "web", "-o", "json"))
        assert (out["apiVersion"], out["kind"]) == ("apps/v1", "Deployment")
        assert out["status"]["updatedReplicas"] == 3
        kinds = {c["type"]: c["reason"] for c in out["status"]["conditions"]}
        assert kinds == {"Available": "MinimumReplicasAvailable",
                         "Progressing": "NewReplicaSetAvailable"}

    def test_replica_sets_by_hash_name(self, rolled: Rolled) -> None:
        """get rs lists both ReplicaSets under `<deployment>-<pod-template-hash>`."""
        rows = {r[0]: r[1:4] for r in cells(rolled.run("get", "rs"))[1:]}
        assert rows == {rs_name("nginx:1.16.1"): ["3", "3", "3"],
                        rs_name("nginx:1.14.2"): ["0", "0", "0"]}


class TestDescribeDeployment:
    def test_layout(self, rolled: Rolled) -> None:
        """kubectl's fields in kubectl's order, the new and old ReplicaSets and the events."""
        out = rolled.run("describe", "deployment", "web")
        keys = [line.split(":")[0] for line in out.splitlines()
                if line and not line.startswith(" ")]
        assert keys == ["Name", "Namespace", "CreationTimestamp", "Labels", "Annotations",
                        "Selector", "Replicas", "StrategyType", "MinReadySeconds",
                        "RollingUpdateStrategy", "Pod Template", "Conditions",
                        "OldReplicaSets", "NewReplicaSet", "Events"]
        assert "Replicas:               3 desired | 3 updated | 3 total | 3 available | " \
               "0 unavailable" in out
        assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in out
        assert f"NewReplicaSet:   {rs_name('nginx:1.16.1')} (3/3 replicas created)" in out
        assert "deployment.kubernetes.io/revision: 2" in out
        assert "ScalingReplicaSet" in out

    def test_replica_set_names_its_controller(self, rolled: Rolled) -> None:
        """describe rs says which Deployment controls it."""
        out = rolled.run("describe", "rs", rs_name("nginx:1.14.2"))
        assert "Controlled By:  Deployment/web" in out


class TestRolloutOnTheStore:
    def test_status_complete(self, rolled: Rolled) -> None:
        """The finished rollout: exit 0 with kubectl's line."""
        assert rolled.run("rollout", "status", "deploy/web") == \
            'deployment "web" successfully rolled out\n'

    def test_history_joins_replica_sets_and_commits(self, rolled: Rolled) -> None:
        """Each revision: the controller's number and ReplicaSet, the commit and its subject."""
        out = rolled.rollout("history", "deploy/web")
        shas = git(rolled.repo, "log", "--reverse", "--format=%h", "--abbrev=12").split()
        rows = [line.split(None, 3) for line in out.splitlines()[2:]]
        assert rows == [["1", rs_name("nginx:1.14.2"), shas[0], "web: first version"],
                        ["2", rs_name("nginx:1.16.1"), shas[1], "web: nginx 1.16"]]

    def test_undo_brings_back_the_same_replica_set(self, rolled: Rolled) -> None:
        """undo --commit edits the file; the service scales the old ReplicaSet back up."""
        before = {o.key.name for o in rolled.cluster.store.objects("ReplicaSet")}
        out = rolled.rollout("undo", "deploy/web", "--commit")
        assert out.startswith("deployment.apps/web rolled back (committed ")
        assert (rolled.desired / "web.yaml").read_text() == deployment("nginx:1.14.2")
        rolled.cluster.converge(8)
        after = {o.key.name: o for o in rolled.cluster.store.objects("ReplicaSet")}
        assert set(after) == before  # scaled up, not recreated
        old = after[rs_name("nginx:1.14.2")]
        assert (old.body["spec"]["replicas"], (old.status or {}).get("readyReplicas")) == (3, 3)
        rows = [line.split(None, 3) for line in rolled.rollout(
            "history", "deploy/web").splitlines()[2:]]
        assert [r[:2] for r in rows] == [["2", rs_name("nginx:1.16.1")],
                                         ["3", rs_name("nginx:1.14.2")]]
        assert rows[1][3].startswith("Roll back deployment web to revision 1")
        assert rolled.run("rollout", "status", "deploy/web").endswith("successfully rolled out\n")

    def test_restart_rolls_a_new_replica_set(self, rolled: Rolled) -> None:
        """restart's annotation is a new template: a third ReplicaSet, revision 3."""
        rolled.rollout("restart", "deploy/web")
        rolled.cluster.converge(8)
        names = {o.key.name for o in rolled.cluster.store.objects("ReplicaSet")}
        assert len(names) == 3
        out = rolled.rollout("history", "deploy/web")
        last = out.splitlines()[-1].split()
        # Not committed: no commit introduced it, so its source is the service's ("folder").
        assert last[0] == "3" and last[2].startswith("folder:")


def _waits_for_a_lock(engine: Engine) -> bool:
    """Whether another session of this database waits for a lock now."""
    with engine.connect() as conn:
        return bool(conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()").scalar())


class TestUndoLocking:
    def test_store_read_outside_the_folder_lock(self, tmp_path: Path, postgres_url: str) -> None:
        """undo reads the history before it locks the folder: a stuck store holds up no write."""
        rolled = Rolled(tmp_path, postgres_url)
        blocker = create_engine(postgres_url)
        try:
            with blocker.connect() as conn, conn.begin():
                conn.exec_driver_sql("LOCK TABLE objects IN ACCESS EXCLUSIVE MODE")
                undo = subprocess.Popen(
                    [CLI, "rollout", "undo", "deployment/web", "--desired",
                     str(rolled.desired), "--state", rolled.state],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                # Until undo's read of the store waits for the table lock.
                deadline = time.monotonic() + 60
                while not _waits_for_a_lock(blocker):
                    assert undo.poll() is None, undo.communicate()
                    assert time.monotonic() < deadline, "undo never read the store"
                    time.sleep(0.1)
                fd = os.open(rolled.desired, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while undo holds it
                finally:
                    os.close(fd)
            out, err = undo.communicate(timeout=60)
            assert undo.returncode == 0, err
            assert "rolled back" in out
        finally:
            blocker.dispose()
            rolled.cluster.store.close()
