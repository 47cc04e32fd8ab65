"""The read side of the CLI run as a subprocess against a store filled through the Store API.

Once on a SQLite file, once on a PostgreSQL database (`postgres_server`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.api.records import (
    Condition,
    ContainerStatus,
    EventRecord,
    NodeRecord,
    OwnerRef,
    PodRecord,
)
from reconciler.api.types import DesiredObject, Key, LoadResult, Position
from reconciler.planning.diff import diff
from reconciler.store import Store
from tests.support.postgres import Cluster

CLI = str(Path(sys.executable).with_name("reconciler"))
NOW = datetime.now(UTC)


def run(*args: str, state: str | Path, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [CLI, *args, "--state", str(state)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == code, proc.stderr
    return proc


def rc_body(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"app": name},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "web:1"}]},
            },
        },
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[str]:
    """A filled store, on SQLite and then on PostgreSQL: the CLI reads both the same."""
    # Ages are printed against the real clock: take "now" when the store is filled,
    # not when the module was imported (the suite may run minutes in between).
    global NOW
    NOW = datetime.now(UTC)
    server: Cluster | None = None
    if request.param == "sqlite":
        path = str(tmp_path_factory.mktemp("cli") / "state.db")
    else:
        server = request.getfixturevalue("postgres_server")
        assert server is not None
        path = server.create_database("cli")
    store = Store.open(path)
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 5000, "nodePort": 30080, "protocol": "TCP"}],
        },
    }
    objs = [
        DesiredObject(
            Key("ReplicationController", "default", "web"),
            rc_body("web"),
            Position("web-rc.yaml"),
            "h1",
        ),
        DesiredObject(
            Key("ReplicationController", "default", "old"),
            rc_body("old"),
            Position("old-rc.yaml"),
            "h2",
        ),
        DesiredObject(Key("Service", "default", "web"), svc, Position("web-svc.yaml"), "h3"),
    ]
    store.apply_plan(diff(objs, {}), "folder")
    # old-rc.yaml now fails to load: its RC stays, marked stale.
    store.apply_plan(
        diff(LoadResult(objs[:1] + objs[2:], [], frozenset({"old-rc.yaml"})), store.recorded())
    )
    store.set_status(
        Key("ReplicationController", "default", "web"), {"replicas": 2, "readyReplicas": 1}
    )
    store.allocate_cluster_ip("default/web", "10.96.0.0/24", "10.96.0.50")
    store.set_endpoints(
        "default",
        "web",
        [{"addresses": [{"ip": "172.17.0.3"}], "ports": [{"port": 5000, "protocol": "TCP"}]}],
    )
    store.upsert_node(
        NodeRecord(
            "local",
            "unix:///var/run/docker.sock",
            NOW - timedelta(days=4),
            ready=True,
            engine_version="20.10.24",
            last_heartbeat=NOW,
        )
    )
    owner = OwnerRef("ReplicationController", "web", "rc-uid")
    store.upsert_pods(
        [
            PodRecord(
                uid="u1",
                namespace="default",
                name="web-abcde",
                spec={
                    "containers": [
                        {"name": "web", "image": "web:1", "ports": [{"containerPort": 5000}]}
                    ]
                },
                spec_hash="s",
                created_at=NOW - timedelta(hours=12),
                labels={"app": "web"},
                owner=owner,
                node_name="local",
                phase="Running",
                pod_ip="172.17.0.3",
                host_ip="127.0.0.1",
                start_time=NOW - timedelta(minutes=3),
                conditions=[Condition("Ready", True)],
                containers=[
                    ContainerStatus(
                        "web",
                        "web:1",
                        state="running",
                        reason="",
                        ready=True,
                        restart_count=1,
                        container_id="abc",
                        started_at=NOW - timedelta(minutes=2),
                    )
                ],
            ),
            PodRecord(
                uid="u2",
                namespace="default",
                name="web-fghij",
                spec={"containers": [{"name": "web", "image": "web:1"}]},
                spec_hash="s",
                # Ages of hours print as "9h" for a whole hour (minutes would change while a
                # loaded machine runs this module): the assertions then hold for the run.
                created_at=NOW - timedelta(hours=9),
                labels={"app": "web"},
                owner=owner,
                node_name="local",
                containers=[
                    ContainerStatus("web", "web:1", reason="CrashLoopBackOff", restart_count=4)
                ],
            ),
            PodRecord(
                uid="u3",
                namespace="kube-system",
                name="dns",
                spec={"containers": []},
                spec_hash="s",
                created_at=NOW,
                labels={"app": "dns"},
            ),
        ]
    )
    ev = EventRecord(
        "default",
        "Pod",
        "web-fghij",
        "Warning",
        "BackOff",
        "Back-off restarting failed container",
        "kubelet",
        host="local",
    )
    store.record_event(ev, now=NOW - timedelta(hours=10))
    store.record_event(ev, now=NOW - timedelta(hours=9))
    store.close()
    yield path
    if server is not None:
        server.drop_database(path)


class TestGet:
    def test_pods_table(self, state: str) -> None:
        """get pods prints kubectl's columns for the default namespace."""
        lines = run("get", "pods", state=state).stdout.splitlines()
        assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert lines[1].split() == ["web-abcde", "1/1", "Running", "1", "12h"]
        assert lines[2].split() == ["web-fghij", "0/1", "CrashLoopBackOff", "4", "9h"]
        assert len(lines) == 3

    def test_pods_wide_all_namespaces_selector(self, state: str) -> None:
        """-A adds NAMESPACE, -o wide adds IP and NODE, -l filters by label."""
        lines = run(
            "get", "po", "-A", "-o", "wide", "-l", "app in (web)", state=state
        ).stdout.splitlines()
        assert lines[0].split() == [
            "NAMESPACE",
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
        ]
        assert lines[1].split()[-2:] == ["172.17.0.3", "local"]
        assert len(lines) == 3

    def test_pods_json_shape(self, state: str) -> None:
        """-o json prints a v1 List whose items use Kubernetes' field names."""
        doc = json.loads(run("get", "pods", "-o", "json", state=state).stdout)
        assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
        pod = doc["items"][0]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
        assert pod["spec"]["nodeName"] == "local"
        assert pod["status"]["podIP"] == "172.17.0.3"
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 1
        assert "running" in pod["status"]["containerStatuses"][0]["state"]

    def test_single_name_yaml_is_the_object(self, state: str) -> None:
        """get pod NAME -o yaml prints the object itself."""
        out = run("get", "pod", "web-abcde", "-o", "yaml", state=state).stdout
        assert out.startswith("apiVersion: v1\nkind: Pod\n")

    def test_not_found(self, state: str) -> None:
        """A missing name gives kubectl's NotFound error and exit 1."""
        proc = run("get", "pods", "nope", state=state, code=1)
        assert proc.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'

    def test_rc_with_stale_marker(self, state: str) -> None:
        """get rc prints DESIRED CURRENT READY and a STALE column for the stale RC."""
        lines = run("get", "rc", state=state).stdout.splitlines()
        assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "STALE"]
        assert lines[1].split()[:1] + lines[1].split()[-1:] == ["old", "yes"]
        assert lines[2].split()[:4] == ["web", "2", "2", "1"]
        assert lines[2].split()[-1] == "no"

    def test_svc_endpoints_nodes(self, state: str) -> None:
        """svc, endpoints and nodes print kubectl's columns."""
        svc = run("get", "svc", state=state).stdout.splitlines()
        assert svc[1].split()[:5] == ["web", "NodePort", "10.96.0.50", "<none>", "80:30080/TCP"]
        ep = run("get", "ep", state=state).stdout.splitlines()
        assert ep[1].split()[:2] == ["web", "172.17.0.3:5000"]
        nodes = run("get", "nodes", state=state).stdout.splitlines()
        assert nodes[1].split() == ["local", "Ready", "<none>", "4d", "20.10.24"]

    def test_events(self, state: str) -> None:
        """get events lists LAST SEEN TYPE REASON OBJECT MESSAGE."""
        lines = run("get", "events", state=state).stdout.splitlines()
        assert lines[0].split()[:5] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT"]
        assert lines[1].split()[:4] == ["9h", "Warning", "BackOff", "pod/web-fghij"]

    def test_missing_store_is_an_error(self, tmp_path: Path) -> None:
        """A missing state file is reported, not created."""
        proc = run("get", "pods", state=tmp_path / "none.db", code=1)
        assert "no state store" in proc.stderr and not (tmp_path / "none.db").exists()


class TestDescribe:
    def test_pod(self, state: str) -> None:
        """describe pod shows kubectl's fields and aggregated events."""
        out = run("describe", "pod", "web-fghij", state=state).stdout
        for field in (
            "Name:",
            "Namespace:",
            "Node:",
            "Controlled By:",
            "Restart Count:",
            "Conditions:",
            "Events:",
        ):
            assert field in out
        assert "ReplicationController/web" in out
        assert "Reason:" in out and "CrashLoopBackOff" in out
        assert "9h (x2 over 10h)" in out

    def test_rc_and_svc(self, state: str) -> None:
        """describe rc counts replicas and pod phases; describe svc shows its endpoints."""
        rc = run("describe", "rc", "web", state=state).stdout
        assert "2 current / 2 desired" in rc
        assert "1 Running / 1 Waiting / 0 Succeeded / 0 Failed" in rc
        svc = run("describe", "svc", "web", state=state).stdout
        assert "172.17.0.3:5000" in svc and "30080/TCP" in svc


POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  containers:
  - name: c
    image: {image}
"""


class TestPlan:
    def test_plan_update_stale_and_exit_codes(self, tmp_path: Path) -> None:
        """plan diffs like kubectl diff, keeps a broken file's objects, and sets exit codes."""
        from reconciler.manifests.loader import load_folder

        desired, state = tmp_path / "desired", tmp_path / "state.db"
        desired.mkdir()
        (desired / "a.yaml").write_text(POD.format(name="a", image="busybox:1"))
        (desired / "b.yaml").write_text(POD.format(name="b", image="busybox:1"))
        fresh = run("plan", "--desired", str(desired), "--exit-code", state=state, code=3)
        assert "Plan: 2 to create, 0 to update, 0 to delete, 0 unchanged." in fresh.stdout
        store = Store.open(str(state))
        store.apply_plan(diff(load_folder(desired), store.recorded()), "folder")
        store.close()
        run("plan", "--desired", str(desired), "--exit-code", state=state, code=0)

        (desired / "a.yaml").write_text(POD.format(name="a", image="busybox:2"))
        (desired / "b.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: [broken\n")
        proc = run("plan", "--desired", str(desired), state=state, code=1)
        assert "diff -u -N LIVE/v1.Pod.default.a MERGED/v1.Pod.default.a" in proc.stdout
        assert "-    image: busybox:1\n+    image: busybox:2" in proc.stdout
        assert "~ Pod/default/a (spec.containers[0].image)" in proc.stdout
        assert "! Pod/default/b kept as last applied: b.yaml has errors" in proc.stdout
        assert "Pod/default/b" not in proc.stdout.split("Plan:")[0]
        assert "b.yaml:" in proc.stderr and "error" in proc.stderr
