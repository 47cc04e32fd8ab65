"""Never silent (issue 16), end to end: validate, plan and the service say what has no effect.

`validate` and `plan` run as the real CLI in a subprocess; the service is the
real `reconciler run` on the local Docker engine (tests/e2e/service.py), whose
events and `get cs` are read back with the CLI. The manifests start no
container: a recorded kind and a ReplicationController of zero replicas.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.service import service, wait_until

RECONCILER = Path(sys.executable).with_name("reconciler")

INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  defaultBackend:
    service: {name: web, port: {number: 80}}
"""
OLD_INGRESS = """\
apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: old
spec:
  backend: {serviceName: web, servicePort: 80}
"""
# template.metadata.name: accepted, and a controller names its pods after itself.
IDLE_RC = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: idle
spec:
  replicas: 0
  template:
    metadata: {name: ignored, labels: {app: idle}}
    spec:
      containers: [{name: c, image: busybox:1.36}]
"""
# One of each kind issue 17 names: accepted and recorded with one warning each.
HARMLESS = {
    "sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app}\n",
    "pdb.yaml": "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: app}\n"
                "spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}\n",
    "sc.yaml": "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\n"
               "provisioner: kubernetes.io/no-provisioner\n",
    "hpa.yaml": "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
                "metadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, "
                "kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 5\n",
    "hpa1.yaml": "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\n"
                 "metadata: {name: old}\nspec:\n  scaleTargetRef: {kind: Deployment, "
                 "name: web}\n  maxReplicas: 5\n  targetCPUUtilizationPercentage: 80\n",
    "np.yaml": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\n"
               "spec: {podSelector: {}, policyTypes: [Ingress]}\n",
    "role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n"
                 "rules: [{apiGroups: [''], resources: [pods], verbs: [get]}]\n",
    "rb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
               "metadata: {name: rb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, "
               "kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: app}]\n",
    "cr.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
               "metadata: {name: cr}\nrules: [{nonResourceURLs: [/healthz], verbs: [get]}]\n",
    "crb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
                "metadata: {name: crb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, "
                "kind: ClusterRole, name: cr}\nsubjects: [{kind: ServiceAccount, name: app, "
                "namespace: default}]\n",
    "ing.yaml": INGRESS,
    "kustomization.yaml": "resources: [sa.yaml, ing.yaml]\nnamePrefix: x-\n",
}


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RECONCILER), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


class TestValidateSaysSo:
    """`reconciler validate`: one warning line per inert kind or field, exit 0."""

    def test_each_harmless_kind_is_accepted_with_one_warning(self, tmp_path: Path) -> None:
        """Every kind issue 17 names, and a kustomization file: exit 0, one warning per file."""
        for name, text in HARMLESS.items():
            (tmp_path / name).write_text(text)
        done = cli(tmp_path, "validate", ".")
        assert done.returncode == 0, done.stdout
        lines = done.stdout.splitlines()
        assert sorted(line.split(":", 1)[0] for line in lines) == sorted(HARMLESS)
        assert all(": warning: " in line for line in lines), lines
        kinds = [line for line in lines if "kind: kind " in line]
        assert len(kinds) == len(HARMLESS) - 1
        assert all("is recorded but not acted on" in line for line in kinds), kinds
        assert "12 object(s) valid" not in done.stderr  # the kustomization is no object
        assert "11 object(s) valid, 12 warning(s)" in done.stderr

    def test_removed_api_version_names_the_release(self, tmp_path: Path) -> None:
        """extensions/v1beta1 Ingress: accepted, the warning names Kubernetes 1.22."""
        (tmp_path / "old.yaml").write_text(OLD_INGRESS)
        done = cli(tmp_path, "validate", "old.yaml")
        assert done.returncode == 0, done.stdout
        assert done.stdout.splitlines()[0] == (
            "old.yaml:1:13: warning: apiVersion: apiVersion extensions/v1beta1 of Ingress was "
            "removed in Kubernetes 1.22 (use networking.k8s.io/v1); recorded with only "
            "apiVersion, kind and metadata checked")

    def test_field_without_effect_has_file_line_and_column(self, tmp_path: Path) -> None:
        """A field nothing reads: FILE:LINE:COL: warning: PATH: field F has no effect here."""
        (tmp_path / "rc.yaml").write_text(IDLE_RC)
        done = cli(tmp_path, "validate", "rc.yaml")
        assert done.returncode == 0
        assert done.stdout == ("rc.yaml:8:16: warning: spec.template.metadata.name: field name "
                               "has no effect here: a controller names its pods after itself\n")


class TestPlanSaysSo:
    """`reconciler plan`: the same notes beside each object, and a count in the summary."""

    def test_notes_beside_the_objects(self, tmp_path: Path) -> None:
        """`! ...` lines follow the object they are about; objects without any have none."""
        desired = tmp_path / "desired"
        desired.mkdir()
        (desired / "ing.yaml").write_text(INGRESS)
        (desired / "rc.yaml").write_text(IDLE_RC)
        done = cli(tmp_path, "plan", "--desired", str(desired), "--state",
                   str(tmp_path / "state.db"))
        assert done.returncode == 0, done.stderr
        tail = done.stdout.splitlines()[-5:]
        assert tail == [
            "Plan: 2 to create, 0 to update, 0 to delete, 0 unchanged. "
            "2 with something that has no effect here (marked !).",
            "  + Ingress/default/web",
            "      ! kind Ingress is recorded but not acted on: no ingress controller runs "
            "here; reach Services by NodePort or cluster IP",
            "  + ReplicationController/default/idle",
            "      ! spec.template.metadata.name: field name has no effect here: a controller "
            "names its pods after itself",
        ]


@pytest.mark.docker
class TestServiceSaysSo:
    """The real service: a NoEffect event on the object, a count in `get cs`, and `get`."""

    def test_event_and_component(self, tmp_path: Path) -> None:
        """Applying inert things records a NoEffect event each and says so in get cs."""
        with service(tmp_path, args=("--proxy-mode", "off")) as run:
            run.write("ing.yaml", INGRESS)
            run.write("rc.yaml", IDLE_RC)

            def events() -> str:
                out = run.cli("get", "events", "-A").stdout
                return out if out.count("NoEffect") >= 2 else ""

            shown = wait_until(events, timeout=120, what="two NoEffect events")
            assert "kind Ingress is recorded but not acted on" in shown
            assert "spec.template.metadata.name: field name has no effect here" in shown

            def component() -> str:
                rows = run.cli("get", "cs").stdout.splitlines()
                row = next((r for r in rows if r.startswith("desired-source")), "")
                return row if "no effect here" in row else ""

            row = wait_until(component, timeout=60, what="desired-source counting them")
            assert "Healthy" in row
            assert "2 objects, 2 with something that has no effect here" in row
            # Recorded means recorded: `get` lists the object by kind and short name.
            for word in ("ingress", "ing", "ingresses"):
                listed = run.cli("get", word).stdout.splitlines()
                assert [line.split()[0] for line in listed] == ["NAME", "web"], listed
