"""The CLI's day-one habits (issue 21) run as a subprocess against a real SQLite store:
store discovery, an unreachable engine in one line, empty Lists, several kinds at once,
--show-labels, describe of every kind, plan's exit codes and shell completion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.types import DesiredObject, Key, Position
from reconciler.planning.diff import diff
from reconciler.store import Store

CLI = str(Path(sys.executable).with_name("reconciler"))


def run(*args: str, code: int = 0, env: dict[str, str] | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("RECONCILER_STATE", "RECONCILER_CONFIG")}
    full.update(env or {})
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, env=full,
                          cwd=cwd, check=False)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    return proc


def obj(kind: str, name: str, labels: dict[str, str], **rest: object) -> DesiredObject:
    api = "apps/v1" if kind == "Deployment" else "v1"
    body = {"apiVersion": api, "kind": kind, "metadata": {"name": name, "labels": labels}, **rest}
    return DesiredObject(Key(kind, "default", name), body, Position(f"{name}.yaml"), name)


def fill(path: Path, pods: tuple[str, ...] = ("web-1",), engine: str = "") -> str:
    """A store with a Service, a Deployment, a ConfigMap, an Endpoints, pods and a node."""
    store = Store.open(str(path))
    objs = [
        obj("Service", "web", {"app": "web"},
            spec={"selector": {"app": "web"}, "ports": [{"port": 80}]}),
        obj("Deployment", "web", {"app": "web"}, spec={
            "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}),
        obj("ConfigMap", "settings", {"tier": "conf"}, data={"a": "1"}),
        obj("Endpoints", "external", {"kind": "external"},
            subsets=[{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 5432}]}]),
    ]
    store.apply_plan(diff(objs, {}), "folder")
    store.upsert_node(NodeRecord("local", engine or "unix:///var/run/docker.sock",
                                 datetime.now(UTC), ready=True))
    store.upsert_pods([
        PodRecord(uid=f"uid-{name}", namespace="default", name=name,
                  spec={"containers": [{"name": "web", "image": "web:1"}]}, spec_hash="h",
                  created_at=datetime.now(UTC), labels={"app": "web", "pod": name},
                  node_name="local", phase="Running")
        for name in pods])
    store.close()
    return str(path)


@pytest.fixture
def state(tmp_path: Path) -> str:
    return fill(tmp_path / "state.db", ("web-1", "web-2"))


class TestStoreDiscovery:
    def test_flag_then_env_then_config_then_cwd(self, tmp_path: Path) -> None:
        """--state wins over RECONCILER_STATE, which wins over the config file, then ./state.db."""
        flagged = fill(tmp_path / "flag.db", ("from-flag",))
        env_db = fill(tmp_path / "env.db", ("from-env",))
        conf_db = fill(tmp_path / "conf.db", ("from-config",))
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        fill(cwd / "state.db", ("from-cwd",))
        config = tmp_path / "config.toml"
        config.write_text(f'state = "{conf_db}"\n')
        env = {"RECONCILER_STATE": env_db, "RECONCILER_CONFIG": str(config)}

        def names(env: dict[str, str], *flags: str) -> list[str]:
            out = run("get", "pods", "-o", "name", *flags, env=env, cwd=cwd).stdout
            return out.split()

        assert names(env, "--state", flagged) == ["pod/from-flag"]
        assert names(env) == ["pod/from-env"]
        assert names({"RECONCILER_CONFIG": str(config)}) == ["pod/from-config"]
        assert names({"RECONCILER_CONFIG": str(tmp_path / "absent.toml")}) == ["pod/from-cwd"]

    def test_installed_config_is_found(self, tmp_path: Path) -> None:
        """The config.toml `install --systemd` writes is read for `state` (relative to it)."""
        prefix = tmp_path / "root"
        run("install", "--systemd", "--prefix", str(prefix))
        config = prefix / "etc/reconciler/config.toml"
        text = config.read_text()
        assert 'state = "/var/lib/reconciler/state.db"' in text
        config.write_text(text.replace('state = "/var/lib/reconciler/state.db"',
                                       'state = "here.db"'))
        fill(config.parent / "here.db", ("installed",))
        out = run("get", "pods", "-o", "name", env={"RECONCILER_CONFIG": str(config)},
                  cwd=tmp_path).stdout
        assert out.split() == ["pod/installed"]

    def test_broken_config_is_one_error(self, tmp_path: Path) -> None:
        """A config file that is not TOML is named in a one-line error, exit 1."""
        config = tmp_path / "config.toml"
        config.write_text("state = [oops\n")
        proc = run("get", "pods", env={"RECONCILER_CONFIG": str(config)}, code=1, cwd=tmp_path)
        assert str(config) in proc.stderr and "Traceback" not in proc.stderr


class TestUnreachableEngine:
    @pytest.mark.parametrize("command", [("logs", "web-1"), ("top", "pods"),
                                         ("exec", "web-1", "--", "true")])
    def test_one_line(self, tmp_path: Path, command: tuple[str, ...]) -> None:
        """An engine that does not answer is one line: node, URL and the reason."""
        url = f"unix://{tmp_path}/no-docker.sock"
        state = fill(tmp_path / "state.db", engine=url)
        proc = run(command[0], "--state", state, *command[1:], code=1)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert lines == [f"{lines[0].split(':', 1)[0]}: node local ({url}) is unreachable: "
                         "No such file or directory"], proc.stderr


class TestGet:
    @pytest.mark.parametrize("mode", ["json", "yaml"])
    def test_empty_list(self, state: str, mode: str) -> None:
        """-o json|yaml with nothing found prints an empty List (scripts parse it)."""
        out = run("get", "pods", "-n", "nowhere", "-o", mode, "--state", state).stdout
        doc = json.loads(out) if mode == "json" else yaml.safe_load(out)
        assert (doc["kind"], doc["items"]) == ("List", [])

    def test_several_kinds(self, state: str) -> None:
        """get po,svc lists both kinds, names prefixed by kind as kubectl does."""
        out = run("get", "po,svc", "-o", "name", "--state", state).stdout.split()
        assert out == ["pod/web-1", "pod/web-2", "service/web"]
        tables = run("get", "po,svc", "--state", state).stdout.split("\n\n")
        assert tables[0].splitlines()[1].split()[0] == "pod/web-1"
        assert tables[1].splitlines()[1].split()[:2] == ["service/web", "ClusterIP"]
        items = json.loads(run("get", "svc,po", "-o", "json", "--state", state).stdout)["items"]
        assert [i["kind"] for i in items] == ["Service", "Pod", "Pod"]

    def test_names_take_one_kind(self, state: str) -> None:
        """A NAME with several kinds is a usage error (2), as kubectl refuses it."""
        proc = run("get", "po,svc", "web", "--state", state, code=2)
        assert "more than one resource type" in proc.stderr

    def test_show_labels(self, state: str) -> None:
        """--show-labels adds a LABELS column with the sorted labels."""
        lines = run("get", "pods", "--show-labels", "--state", state).stdout.splitlines()
        assert lines[0].split()[-1] == "LABELS"
        assert lines[1].split()[-1] == "app=web,pod=web-1"


class TestDescribe:
    @pytest.mark.parametrize("resource", ["pods", "deploy", "svc", "nodes", "configmaps",
                                          "endpoints"])
    def test_every_kind_without_name(self, state: str, resource: str) -> None:
        """describe KIND with no NAME describes each object of the kind, kubectl's way."""
        names = run("get", resource, "-o", "name", "--state", state).stdout.split()
        out = run("describe", resource, "--state", state).stdout
        described = re.findall(r"^Name:\s+(\S+)$", out, re.M)
        assert described == [n.split("/", 1)[1] for n in names] and described

    def test_generic_layout(self, state: str) -> None:
        """A kind with no describer of its own (Endpoints) gets the generic layout."""
        out = run("describe", "endpoints", "external", "--state", state).stdout
        assert "Labels:       kind=external" in out
        assert "Kind:         Endpoints" in out
        assert "Subsets:" in out and "10.1.2.3" in out and "5432" in out

    def test_selector(self, state: str) -> None:
        """describe -l describes only the matching objects."""
        out = run("describe", "pods", "-l", "pod=web-2", "--state", state).stdout
        assert out.splitlines()[0].split() == ["Name:", "web-2"] and "web-1" not in out

    def test_not_found(self, state: str) -> None:
        """A missing name is kubectl's NotFound, exit 1."""
        proc = run("describe", "ingress", "nope", "--state", state, code=1)
        assert 'ingresses "nope" not found' in proc.stderr


class TestPlanExitCode:
    def test_changes_are_not_a_usage_error(self, tmp_path: Path) -> None:
        """plan --exit-code exits 3 for changes; 2 stays click's usage error; 0 when in sync."""
        desired = tmp_path / "desired"
        desired.mkdir()
        (desired / "cm.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: '1'\n")
        state = str(tmp_path / "state.db")
        run("plan", "--desired", str(desired), "--state", state, "--exit-code", code=3)
        run("plan", "--desired", str(desired), "--state", state, "--exit-cod", code=2)


class TestCompletion:
    @pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
    def test_script(self, shell: str) -> None:
        """completion SHELL prints a script that calls back with _RECONCILER_COMPLETE."""
        out = run("completion", shell).stdout
        assert "_RECONCILER_COMPLETE" in out and "reconciler" in out

    def test_names_from_the_store(self, state: str) -> None:
        """Completing `describe pods w` offers the recorded pods (bash protocol)."""
        env = {"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler describe pods w",
               "COMP_CWORD": "3", "RECONCILER_STATE": state}
        out = run(env=env).stdout.splitlines()
        assert out == ["plain,web-1", "plain,web-2"]

    def test_resources(self) -> None:
        """Completing `get dep` offers deployments (zsh protocol)."""
        env = {"_RECONCILER_COMPLETE": "zsh_complete", "COMP_WORDS": "reconciler get dep",
               "COMP_CWORD": "2"}
        assert "deployments" in run(env=env).stdout
