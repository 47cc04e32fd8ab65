"""The kinds recorded without effect (issue 17): their generated schemas and how they load."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from reconciler.manifests import kinds
from reconciler.manifests.loader import load_folder

ROOT = Path(__file__).resolve().parents[3]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_kind_schemas",
                                                  ROOT / "scripts" / "k8s-kind-schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestGeneratedSchemas:
    """reconciler/schemas/ holds exactly what scripts/k8s-kind-schemas.py writes."""

    @pytest.mark.parametrize("name", sorted(generator().TARGETS))
    def test_file_is_current(self, name: str) -> None:
        """Regenerate with `.venv/bin/python scripts/k8s-kind-schemas.py` when this fails."""
        written = ROOT / "reconciler" / "schemas" / name
        assert written.read_text(encoding="utf-8") == generator().render(name)

    def test_every_generated_file_is_used(self) -> None:
        """Each generated schema is the schema of some accepted kind and apiVersion."""
        used = {info.schema for info in kinds.KINDS.values()}
        used |= {schema for info in kinds.KINDS.values() for _, schema, _ in info.by_version}
        assert set(generator().TARGETS) <= used


class TestLoading:
    """Recorded kinds load as objects: typos refused, cluster scope kept, old versions loose."""

    def test_typo_in_a_recorded_kind_is_an_error(self, tmp_path: Path) -> None:
        """Kubernetes' own schema still catches a misspelt field, with "did you mean"."""
        (tmp_path / "r.yaml").write_text(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n"
            "rulez: []\n")
        result = load_folder(tmp_path)
        assert [d.message for d in result.errors] == ["unknown field 'rulez' (did you mean "
                                                      "'rules'?)"]

    def test_cluster_scoped_kinds_have_no_namespace(self, tmp_path: Path) -> None:
        """A ClusterRole's key has no namespace; one given has no effect, as in Kubernetes."""
        (tmp_path / "cr.yaml").write_text(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c}\n")
        [obj] = load_folder(tmp_path).objects
        assert (obj.key.namespace, obj.key.name) == ("", "c")
        (tmp_path / "cr.yaml").write_text(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
            "metadata: {name: c, namespace: x}\n")
        result = load_folder(tmp_path)
        assert [(d.severity, d.path) for d in result.diagnostics] == [
            ("warning", "kind"), ("warning", "metadata.namespace")]
        assert result.objects[0].key.namespace == ""

    def test_removed_version_keeps_its_own_fields(self, tmp_path: Path) -> None:
        """An extensions/v1beta1 Ingress keeps serviceName/servicePort: recorded as written."""
        (tmp_path / "i.yaml").write_text(
            "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: i}\n"
            "spec: {backend: {serviceName: web, servicePort: 80}}\n")
        result = load_folder(tmp_path)
        assert result.errors == []
        [obj] = result.objects
        assert obj.body["spec"] == {"backend": {"serviceName": "web", "servicePort": 80}}
        assert obj.notes and obj.notes[0].startswith("kind Ingress is recorded but not acted on")
