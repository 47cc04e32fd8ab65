"""Warnings where a user is about to be surprised, and the installation-dependent checks.

Real files loaded by reconciler.manifests.loader; the installation's facts come
in a `SiteChecks` as `reconciler validate` fills it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import FolderLoader, SiteChecks, load_folder, load_paths

RC = """apiVersion: v1
kind: ReplicationController
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{app: web}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      {extra}
      containers: [{{name: app, image: "{image}"}}]
"""
SVC = """apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: %s}
  ports: [{port: 80}]
"""


def rc(replicas: int = 1, image: str = "busybox", extra: str = "{}") -> str:
    text = RC.format(replicas=replicas, image=image, extra=extra)
    return text.replace("      {}\n", "")


def messages(folder: Path, checks: SiteChecks | None = None) -> list[tuple[str, str, str]]:
    result = FolderLoader(folder, checks=checks).load()
    return [(d.severity, d.path, d.message) for d in result.diagnostics]


class TestWarnings:
    """Accepted, with a warning saying what will not happen as written."""

    def test_service_selecting_nothing(self, tmp_path: Path) -> None:
        """A Service whose selector matches no declared pod template warns; one that does not."""
        (tmp_path / "rc.yaml").write_text(rc())
        (tmp_path / "svc.yaml").write_text(SVC % "nothing")
        assert messages(tmp_path) == [(
            "warning", "spec.selector", "the selector matches no Pod or pod template declared "
            "in namespace 'default': the Service has no endpoints")]
        (tmp_path / "svc.yaml").write_text(SVC % "web")
        assert messages(tmp_path) == []

    def test_job_and_cronjob_templates_count(self, tmp_path: Path) -> None:
        """A Service may select the pods of a Job's or a CronJob's template."""
        (tmp_path / "jobs.yaml").write_text(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n"
            "    metadata: {labels: {app: j}}\n    spec:\n      restartPolicy: Never\n"
            "      containers: [{name: c, image: busybox}]\n---\n"
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec:\n"
            "  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n"
            "        metadata: {labels: {app: cj}}\n        spec:\n"
            "          restartPolicy: Never\n          containers: [{name: c, image: busybox}]\n")
        (tmp_path / "svc.yaml").write_text((SVC % "j") + "---\n" + (SVC % "cj").replace(
            "name: web", "name: web2"))
        assert messages(tmp_path) == []

    def test_named_files_are_not_the_whole_set(self, tmp_path: Path) -> None:
        """`validate svc.yaml` alone: the pods may be elsewhere, so no warning about them."""
        (tmp_path / "svc.yaml").write_text(SVC % "web")
        assert load_paths(tmp_path, [Path("svc.yaml")]).diagnostics == []
        assert len(load_paths(tmp_path, [Path(".")]).diagnostics) == 1

    def test_placeholder_image(self, tmp_path: Path) -> None:
        """An image written as a placeholder (`<...>`) warns, naming it."""
        (tmp_path / "rc.yaml").write_text(rc(image="<your-image>:<tag>"))
        assert messages(tmp_path) == [(
            "warning", "spec.template.spec.containers[0].image",
            "image '<your-image>:<tag>' looks like a placeholder (<...>) left unfilled: no "
            "engine can pull it")]

    @pytest.mark.parametrize(("replicas", "bound", "warned"), [
        (1000, 1000, False), (1001, 1000, True), (5000, 10000, False),
    ])
    def test_replicas_bound(self, tmp_path: Path, replicas: int, bound: int,
                            warned: bool) -> None:
        """replicas above the configurable bound (1,000 by default) warns."""
        (tmp_path / "rc.yaml").write_text(rc(replicas=replicas))
        found = messages(tmp_path, SiteChecks(max_replicas=bound))
        assert found == ([("warning", "spec.replicas", f"replicas {replicas} is above the "
                           f"sanity bound of {bound} (a typo? `validate --max-replicas` raises "
                           "the bound)")] if warned else [])


HOST_PATH = "volumes: [{name: h, hostPath: {path: /srv/data/x}}]"


class TestSiteChecks:
    """What the installation allows and has."""

    @pytest.mark.parametrize(("allow", "refused"), [
        (None, False), ((), True), (("/srv/data",), False), (("/srv/dat",), True),
        (("/srv/data/x/y",), True),
    ])
    def test_host_path_allow_list(self, tmp_path: Path, allow: tuple[str, ...] | None,
                                  refused: bool) -> None:
        """A hostPath outside runtime.host_path_allow is an error (not checked when unknown)."""
        (tmp_path / "rc.yaml").write_text(rc(extra=HOST_PATH))
        result = FolderLoader(tmp_path, checks=SiteChecks(host_path_allow=allow)).load()
        assert bool(result.errors) is refused
        if refused:
            assert "hostPath /srv/data/x is not under an allowed path" in \
                result.errors[0].message

    @pytest.mark.parametrize(("nodes", "warned"), [
        (None, False), ((), True), (({"disk": "hdd"},), True),
        (({"disk": "hdd"}, {"disk": "ssd", "zone": "a"}), False),
    ])
    def test_node_selector_against_registered_nodes(
            self, tmp_path: Path, nodes: tuple[dict[str, str], ...] | None,
            warned: bool) -> None:
        """A nodeSelector no registered node satisfies warns (not checked without a store)."""
        (tmp_path / "rc.yaml").write_text(rc(extra="nodeSelector: {disk: ssd}"))
        found = messages(tmp_path, SiteChecks(node_labels=nodes))
        assert [m[1] for m in found] == (["spec.template.spec.nodeSelector"] if warned else [])

    def test_declared_node_satisfies_the_selector(self, tmp_path: Path) -> None:
        """A Node declared in the folder counts, with its labels and hostname."""
        (tmp_path / "rc.yaml").write_text(rc(extra="nodeSelector: {disk: ssd}"))
        (tmp_path / "node.yaml").write_text(
            "apiVersion: reconciler.dev/v1\nkind: Node\nmetadata: {name: b, labels: {disk: ssd}}\n"
            "spec: {engine: unix:///var/run/docker-b.sock}\n")
        assert messages(tmp_path, SiteChecks(node_labels=())) == []


NODE = """apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: b%s}
spec: {engine: "tcp://10.250.0.2:2375"%s}
"""


class TestInsecureEngine:
    """A Node engine on plain tcp:// is refused unless allowed explicitly."""

    def test_tcp_without_tls_is_an_error(self, tmp_path: Path) -> None:
        """No tls: an error saying how to fix it or allow it."""
        (tmp_path / "node.yaml").write_text(NODE % ("", ""))
        result = load_folder(tmp_path)
        assert result.objects == []
        assert "has no tls: whoever reaches that port is root" in result.errors[0].message

    @pytest.mark.parametrize(("meta", "spec"), [
        (', annotations: {reconciler.dev/insecure-engine: "true"}', ""),
        ("", ", tls: {ca: /ca.pem, cert: /c.pem, key: /k.pem}"),
    ], ids=["annotation", "tls"])
    def test_allowed(self, tmp_path: Path, meta: str, spec: str) -> None:
        """With TLS, or with the annotation, the Node loads."""
        (tmp_path / "node.yaml").write_text(NODE % (meta, spec))
        result = load_folder(tmp_path)
        assert [o.key.name for o in result.objects] == ["b"] and result.errors == []
