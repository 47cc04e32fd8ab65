"""kubectl writes the GitOps way (issue 22): each write becomes a change of the desired folder.

One service (module-scoped, proxy off, the Kubernetes API on a loopback port,
plain HTTP) runs a Deployment `web` declared with comments, and a ConfigMap.
The real kubectl (/usr/bin/kubectl) applies a new Deployment (its file appears
in the desired folder and its pod runs), scales, edits through KUBE_EDITOR,
labels and patches (merge, JSON, strategic): each time the manifest file
changes, its comments kept, and the service converges from it. A pod deleted
is replaced by its controller; `apply --dry-run=server` writes nothing; writes
that cannot be a source change (a ReplicaSet's pod, an invalid object) are
refused with a Status saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from reconciler.kubeapi.context import ApiContext, GitTarget
from reconciler.kubeapi.server import start_api_server
from tests.e2e.kubectl_kit import KUBECTL, Kubectl, api_service, kubeconfig, kubectl_for
from tests.e2e.service import ServiceRun, wait_until

pytestmark = [
    pytest.mark.docker, pytest.mark.timeout(240),
    pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed"),
]

WEB = """\
# The web tier: written by hand, comments must survive the API's writes.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # the name kubectl uses
  labels:
    tier: front
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: "reconciler/busybox:1"  # the offline image
        command: [sleep, "3600"]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
"""

API = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: "reconciler/busybox:1", command: [sleep, "3600"]}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
            local_images: None) -> Iterator[ServiceRun]:
    """The running service with its API and the web pod Running."""
    with api_service(tmp_path_factory.mktemp("kwrite"), {"web.yaml": WEB},
                     lambda run: len(run.running()) == 1, "the web pod running") as run:
        yield run


@pytest.fixture(scope="module")
def kubectl(cluster: ServiceRun, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return kubectl_for(cluster, tmp_path_factory.mktemp("kubectl"))


def _web(run: ServiceRun) -> str:
    return (run.desired / "web.yaml").read_text()


def _docs(run: ServiceRun) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(_web(run)) if d]


def _app_pods(run: ServiceRun, app: str) -> list[str]:
    return [p["metadata"]["name"] for p in run.running()
            if p["metadata"].get("labels", {}).get("app") == app]


class TestApply:
    def test_new_deployment(self, kubectl: Kubectl, cluster: ServiceRun,
                            tmp_path: Path) -> None:
        """`apply -f` of a new Deployment writes default/deployment-api.yaml; its pod runs."""
        source = tmp_path / "api.yaml"
        source.write_text(API)
        out = kubectl.out("apply", "-f", str(source))
        assert "deployment.apps/api created" in out
        written = cluster.desired / "default" / "deployment-api.yaml"
        doc = yaml.safe_load(written.read_text())
        assert doc["metadata"] == {"name": "api", "namespace": "default"}
        assert "kubectl.kubernetes.io/last-applied-configuration" not in written.read_text()
        wait_until(lambda: len(_app_pods(cluster, "api")) == 1, timeout=90,
                   what="the api pod running")
        # Applied again with a change: the file changes, as a patch of the existing object.
        source.write_text(API.replace("replicas: 1", "replicas: 2"))
        assert "deployment.apps/api configured" in kubectl.out("apply", "-f", str(source))
        assert yaml.safe_load(written.read_text())["spec"]["replicas"] == 2

    def test_dry_run_server(self, kubectl: Kubectl, cluster: ServiceRun,
                            tmp_path: Path) -> None:
        """`apply --dry-run=server` and `diff` answer the object, with the plan's verdict,
        and write nothing."""
        source = tmp_path / "web.yaml"
        source.write_text(WEB.split("---")[0].replace("replicas: 1", "replicas: 5"))
        before = _web(cluster)
        done = kubectl.run("apply", "--dry-run=server", "-f", str(source), "-o",
                           "jsonpath={.spec.replicas}")
        assert done.stdout == "5"
        assert "Warning: plan: update Deployment/default/web (spec.replicas" in done.stderr, \
            done.stderr
        diffed = kubectl.run("diff", "-f", str(source), check=False)
        assert diffed.returncode == 1 and "+  replicas: 5" in diffed.stdout, diffed.stderr
        assert _web(cluster) == before
        assert not (cluster.desired / "default" / "deployment-web.yaml").exists()


class TestChanges:
    def test_scale(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """`scale deploy --replicas` changes only `replicas` in web.yaml; two pods run."""
        assert "deployment.apps/web scaled" in kubectl.out("scale", "deploy", "web",
                                                           "--replicas=2")
        assert _web(cluster) == WEB.replace("replicas: 1", "replicas: 2")
        wait_until(lambda: len(_app_pods(cluster, "web")) == 2, timeout=90,
                   what="two web pods running")

    def test_label_and_annotate(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """`label` and `annotate` add keys to the manifest, comments kept; a get right
        after shows them, and a label removed at once is removed."""
        # A write answers once the service has applied it: a read right after shows it,
        # and kubectl label, which computes its patch from such a read, undoes it at once.
        kubectl.out("label", "deploy", "web", "color=green")
        assert kubectl.out("get", "deploy", "web", "-o",
                           "jsonpath={.metadata.labels.color}") == "green"
        kubectl.out("label", "deploy", "web", "color-")
        assert "color" not in _docs(cluster)[0]["metadata"]["labels"]
        kubectl.out("label", "deploy", "web", "color=blue")
        kubectl.out("annotate", "deploy", "web", "owner=team-a")
        meta = _docs(cluster)[0]["metadata"]
        assert meta["labels"] == {"tier": "front", "color": "blue"}
        assert meta["annotations"] == {"owner": "team-a"}
        assert "# the name kubectl uses" in _web(cluster)

    def test_edit(self, kubectl: Kubectl, cluster: ServiceRun, tmp_path: Path) -> None:
        """`edit` through KUBE_EDITOR (a script) changes the label it changed."""
        editor = tmp_path / "editor.py"
        editor.write_text("import sys\np = sys.argv[1]\ntext = open(p).read()\n"
                          "open(p, 'w').write(text.replace('tier: front', 'tier: back'))\n")
        done = kubectl.run("edit", "deploy", "web",
                           env={**os.environ, "KUBE_EDITOR": f"{sys.executable} {editor}"})
        assert "deployment.apps/web edited" in done.stdout, done.stderr
        assert "tier: back" in _web(cluster) and "# the offline image" in _web(cluster)

    @pytest.mark.parametrize(("kind", "patch", "key", "value"), [
        ("merge", '{"data": {"a": "1"}}', "a", "1"),
        ("json", '[{"op": "add", "path": "/data/b", "value": "2"}]', "b", "2"),
        ("strategic", '{"data": {"mode": "slow"}}', "mode", "slow"),
    ])
    def test_patch_types(self, kubectl: Kubectl, cluster: ServiceRun, kind: str, patch: str,
                         key: str, value: str) -> None:
        """`patch --type merge|json|strategic` of the ConfigMap lands in web.yaml."""
        kubectl.out("patch", "configmap", "settings", "--type", kind, "-p", patch)
        assert _docs(cluster)[1]["data"][key] == value

    @pytest.mark.parametrize(("patch", "what"), [
        ('{"kind": "StatefulSet"}', "kind"), ('{"metadata": {"namespace": "team"}}', "namespace")])
    def test_kind_and_namespace_cannot_change(self, kubectl: Kubectl, cluster: ServiceRun,
                                              patch: str, what: str) -> None:
        """A patch that would turn web's document into another object is a 400, file kept."""
        before = _web(cluster)
        done = kubectl.run("patch", "deploy", "web", "--type", "merge", "-p", patch, check=False)
        assert done.returncode != 0 and f"the {what} of an object cannot be changed" in (
            done.stderr), done.stderr
        assert _web(cluster) == before

    def test_a_scale_without_replicas_is_a_400(self, kubectl: Kubectl,
                                                cluster: ServiceRun) -> None:
        """A patch of the scale subresource that drops spec.replicas is refused, file kept."""
        before = _web(cluster)
        done = kubectl.run("patch", "deploy", "web", "--subresource", "scale", "--type",
                           "merge", "-p", '{"spec": {"replicas": null}}', check=False)
        assert done.returncode != 0 and "spec.replicas" in done.stderr, done.stderr
        assert _web(cluster) == before

    def test_strategic_container_env(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """A strategic patch merges a container by name: env added, image kept."""
        kubectl.out("patch", "deploy", "web", "-p", '{"spec": {"template": {"spec": '
                    '{"containers": [{"name": "main", "env": [{"name": "A", "value": "1"}]}]}}}}')
        container = _docs(cluster)[0]["spec"]["template"]["spec"][
            "containers"][0]
        assert container["env"] == [{"name": "A", "value": "1"}]
        assert container["image"] == "reconciler/busybox:1"


class TestConflicts:
    def test_replace_from_an_old_read_is_a_conflict(self, kubectl: Kubectl, cluster: ServiceRun,
                                                    tmp_path: Path) -> None:
        """`replace -f` of a ConfigMap saved before its last change is a 409 Conflict, the
        file kept; saved after it, it goes through although other writes moved the store
        revision since."""
        saved = tmp_path / "settings.yaml"
        saved.write_text(kubectl.out("get", "configmap", "settings", "-o", "yaml"))
        kubectl.out("patch", "configmap", "settings", "--type", "merge", "-p",
                    '{"data": {"v": "2"}}')
        wait_until(lambda: kubectl.out("get", "configmap", "settings", "-o",
                                       "jsonpath={.data.v}") == "2", 60, what="v=2 served")
        before = _web(cluster)
        done = kubectl.run("replace", "-f", str(saved), check=False)
        assert done.returncode != 0 and "the object has been modified" in done.stderr, done
        assert _web(cluster) == before
        fresh = yaml.safe_load(kubectl.out("get", "configmap", "settings", "-o", "yaml"))
        kubectl.out("annotate", "deploy", "web", "touched=yes")
        wait_until(lambda: kubectl.out("get", "deploy", "web", "-o",
                                       "jsonpath={.metadata.annotations.touched}") == "yes",
                   60, what="the annotation served")
        fresh["data"]["v"] = "3"
        saved.write_text(yaml.safe_dump(fresh))
        assert "configmap/settings replaced" in kubectl.out("replace", "-f", str(saved))
        assert _docs(cluster)[1]["data"]["v"] == "3"


class TestDelete:
    def test_delete_pod_replaced(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """`delete pod` keeps its meaning: the ReplicaSet replaces the pod."""
        wait_until(lambda: len(_app_pods(cluster, "api")) >= 1, timeout=90, what="api pods")
        victim = _app_pods(cluster, "api")[0]
        kubectl.out("delete", "pod", victim, "--wait=false")
        wait_until(lambda: victim not in _app_pods(cluster, "api")
                   and len(_app_pods(cluster, "api")) == 2, timeout=90,
                   what="the api pod replaced")

    def test_delete_deployment_removes_file(self, kubectl: Kubectl,
                                            cluster: ServiceRun) -> None:
        """`delete deploy api` removes its file; its pods go."""
        kubectl.out("delete", "deploy", "api", "--wait=false")
        assert not (cluster.desired / "default" / "deployment-api.yaml").exists()
        wait_until(lambda: not _app_pods(cluster, "api"), timeout=90, what="api pods gone")


class TestRefused:
    def test_pod_of_a_controller(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """Labelling a ReplicaSet's pod is refused: it has no manifest of its own."""
        pod = _app_pods(cluster, "web")[0]
        done = kubectl.run("label", "pod", pod, "x=y", check=False)
        assert done.returncode != 0
        assert "MethodNotAllowed" in done.stderr and "has no manifest" in done.stderr

    def test_invalid_object(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """An invalid change answers 422 with the field, and the file is not changed."""
        before = _web(cluster)
        done = kubectl.run("patch", "deploy", "web", "--type", "merge", "-p",
                           '{"spec": {"replicas": -1}}', check=False)
        assert done.returncode != 0
        assert "is invalid" in done.stderr and "spec.replicas" in done.stderr
        assert _web(cluster) == before

    def test_generator_protobuf(self, kubectl: Kubectl) -> None:
        """kubectl's generators send protobuf: refused (415) with the way that works."""
        done = kubectl.run("create", "configmap", "gen", "--from-literal=a=1", check=False)
        assert done.returncode != 0 and "kubectl apply -f -" in done.stderr

    def test_status_write(self, kubectl: Kubectl) -> None:
        """A status write is refused: the controllers write status."""
        done = kubectl.run("patch", "deploy", "web", "--subresource=status", "--type", "merge",
                           "-p", '{"status": {"replicas": 9}}', check=False)
        assert done.returncode != 0 and "written by reconciler's controllers" in done.stderr


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def git_kubectl(cluster: ServiceRun, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[Kubectl, Path]]:
    """kubectl against a second API server on the same store whose source is a git branch
    (a bare repository holding web.yaml), served in this process."""
    tmp = tmp_path_factory.mktemp("kgit")
    bare, seed = tmp / "origin.git", tmp / "seed"
    _git(tmp, "init", "-q", "--bare", "-b", "main", str(bare))
    _git(tmp, "init", "-q", "-b", "main", str(seed))
    (seed / "web.yaml").write_text(WEB)
    _git(seed, "add", "web.yaml")
    _git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "seed")
    _git(seed, "push", "-q", str(bare), "main")
    ctx = ApiContext(state=str(cluster.state), git=GitTarget(str(bare), "main",
                                                             tmp / "checkout"),
                     extra={"anonymous_write": True})
    server = start_api_server(ctx, "127.0.0.1:0")
    assert server is not None
    try:
        yield Kubectl(kubeconfig(tmp / "config", f"http://{server.address}"),
                      tmp / "cache"), bare
    finally:
        server.close()


class TestGitSource:
    def test_scale_commits(self, git_kubectl: tuple[Kubectl, Path]) -> None:
        """`scale` with a git source is a commit on the branch naming the kubectl command."""
        kubectl, bare = git_kubectl
        kubectl.out("scale", "deploy", "web", "--replicas=3")
        assert _git(bare, "show", "main:web.yaml") == WEB.replace("replicas: 1", "replicas: 3")
        message = _git(bare, "log", "-1", "--format=%B", "main")
        assert message.startswith("scale deployment default/web through the Kubernetes API")
        assert "Requested by: kubectl scale kubectl/v1." in message, message

    def test_create_commits_new_file(self, git_kubectl: tuple[Kubectl, Path],
                                     cluster: ServiceRun, tmp_path: Path) -> None:
        """`create -f` commits default/configmap-extra.yaml; the folder is untouched."""
        kubectl, bare = git_kubectl
        source = tmp_path / "extra.yaml"
        source.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n"
                          "data: {a: '1'}\n")
        assert "configmap/extra created" in kubectl.out("create", "-f", str(source))
        doc = yaml.safe_load(_git(bare, "show", "main:default/configmap-extra.yaml"))
        assert doc["data"] == {"a": "1"}
        assert not (cluster.desired / "default" / "configmap-extra.yaml").exists()

    def test_a_quick_undo_is_written(self, git_kubectl: tuple[Kubectl, Path]) -> None:
        """A label patched in and at once patched out again, before the service applied
        either (it follows the folder, not this branch), leaves web.yaml as it was."""
        kubectl, bare = git_kubectl
        before = _git(bare, "show", "main:web.yaml")
        kubectl.out("patch", "deploy", "web", "--type", "merge", "-p",
                    '{"metadata": {"labels": {"color": "green"}}}')
        assert "color: green" in _git(bare, "show", "main:web.yaml")
        kubectl.out("patch", "deploy", "web", "--type", "merge", "-p",
                    '{"metadata": {"labels": {"color": null}}}')
        assert _git(bare, "show", "main:web.yaml") == before
