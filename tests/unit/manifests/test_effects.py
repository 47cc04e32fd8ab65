"""Never silent: every accepted kind and field path either acts or is warned about (issue 16)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.manifests import effects, kinds, schemas
from reconciler.manifests.effects_table import FIELDS, RECORDED_KINDS
from reconciler.manifests.fields import NoEffect
from reconciler.manifests.schemas import FieldTree


def schema_paths(tree: FieldTree, prefix: str = "", seen: frozenset[int] = frozenset()
                 ) -> Iterator[str]:
    """Every field path a schema accepts, in the table's notation (maps' keys are data)."""
    if id(tree) in seen:  # a recursive type: its fields were listed one level up
        return
    seen = seen | {id(tree)}
    for key, child in (tree.props or {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path
        yield from schema_paths(child, path, seen)
    if tree.items is not None:
        yield from schema_paths(tree.items, prefix + "[]", seen)
    if tree.values is not None and tree.values.props:
        yield from schema_paths(tree.values, prefix + "{}", seen)


def schema_files(info: kinds.KindInfo) -> list[str]:
    return [info.schema, *(schema for _, schema, _ in info.by_version)]


ACTING_KINDS = sorted(k for k in kinds.KINDS if k not in RECORDED_KINDS)


class TestTableIsComplete:
    """The walker over the bundled schemas: nothing accepted is silently without effect."""

    def test_every_kind_acts_or_is_recorded(self) -> None:
        """Each accepted kind has a field table or a "recorded but not acted on" entry."""
        missing = [k for k in kinds.KINDS if k not in FIELDS and k not in RECORDED_KINDS]
        assert missing == []

    @pytest.mark.parametrize("kind", ACTING_KINDS)
    def test_every_field_path_is_listed(self, kind: str) -> None:
        """Each field path the kind's schemas accept is in its table (acting or not)."""
        table = FIELDS[kind]
        for schema in schema_files(kinds.KINDS[kind]):
            unlisted = [p for p in schema_paths(schemas.field_tree(schema)) if p not in table]
            assert unlisted == [], f"{kind} ({schema}): add these to effects_table.py"

    @pytest.mark.parametrize("kind", sorted(FIELDS))
    def test_no_stale_entries(self, kind: str) -> None:
        """Each table entry names a path the kind's schema accepts (no field renamed away)."""
        if kind not in kinds.KINDS:
            pytest.fail(f"{kind} is in the table but not an accepted kind")
        accepted = {p for s in schema_files(kinds.KINDS[kind])
                    for p in schema_paths(schemas.field_tree(s))}
        assert sorted(set(FIELDS[kind]) - accepted) == []

    def test_recorded_kinds_are_accepted(self) -> None:
        """A kind said to be recorded is one the loader accepts."""
        assert set(RECORDED_KINDS) <= set(kinds.KINDS)

    def test_no_recorded_kind_has_a_controller(self) -> None:
        """A kind a registered controller reconciles is not called "not acted on"."""
        from reconciler.control.registry import ENTRIES

        routed = {k for entry in ENTRIES for k in entry.kinds | entry.related_kinds}
        assert sorted(routed & set(RECORDED_KINDS)) == []


class TestCheck:
    """The warnings `effects.check` gives for one body."""

    def test_recorded_kind_gets_one_warning(self) -> None:
        """A recorded kind gets exactly one NoEffect, on `kind`, in the issue's words."""
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"},
                "automountServiceAccountToken": False}
        [finding] = effects.check("ServiceAccount", body)
        assert isinstance(finding, NoEffect)
        assert finding.path == ("kind",)
        assert finding.message.startswith("kind ServiceAccount is recorded but not acted on: ")

    def test_acting_fields_are_silent(self) -> None:
        """A pod of acting fields only gets no warning."""
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "ports": [
                    {"containerPort": 80, "hostPort": 8080}]}], "nodeSelector": {"x": "y"}}}
        assert effects.check("Pod", body) == []

    def test_no_effect_field_named_with_its_path(self) -> None:
        """A field without effect is reported at its own path, in the issue's words."""
        body = {"spec": {"containers": [{"name": "c", "ports": [
            {"containerPort": 80, "hostIP": "127.0.0.1"}]}]}}
        [finding] = effects.check("Pod", body)
        assert finding.path == ("spec", "containers", 0, "ports", 0, "hostIP")
        assert finding.message.startswith("field hostIP has no effect here: ")
        assert finding.at_key

    @pytest.mark.parametrize(("volume", "warned"), [
        ({"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}, True),
        ({"name": "v", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}, False),
        ({"name": "v", "hostPath": {"path": "/tmp", "type": "Directory"}}, True),
        ({"name": "v", "hostPath": {"path": "/tmp", "type": "DirectoryOrCreate"}}, False),
    ])
    def test_value_conditions(self, volume: dict[str, object], warned: bool) -> None:
        """`when` narrows a warning to the values that make no difference."""
        body = {"spec": {"volumes": [volume]}}
        assert bool(effects.check("Pod", body)) is warned

    def test_liveness_success_threshold_other_than_one(self) -> None:
        """successThreshold warns on a liveness probe only when it is not 1."""
        def body(n: int) -> dict[str, object]:
            return {"spec": {"containers": [{"livenessProbe": {"successThreshold": n}}]}}
        assert effects.check("Pod", body(1)) == []
        assert len(effects.check("Pod", body(3))) == 1

    def test_template_fields_share_the_pod_table(self) -> None:
        """A workload's pod template is checked with the pod's entries."""
        body = {"spec": {"template": {"metadata": {"name": "x"}, "spec": {"initContainers": [
            {"name": "i", "readinessProbe": {"exec": {"command": ["true"]}}}]}}}}
        paths = [f.path for f in effects.check("ReplicationController", body)]
        assert paths == [("spec", "template", "metadata", "name"),
                         ("spec", "template", "spec", "initContainers", 0, "readinessProbe")]

    def test_notes_render_path_and_message(self) -> None:
        """`notes` gives `PATH: message` lines, and the kind message alone."""
        body = {"spec": {"containers": [{"ports": [{"hostIP": "1.2.3.4"}]}]}}
        [note] = effects.notes(effects.check("Pod", body))
        assert note.startswith("spec.containers[0].ports[0].hostIP: field hostIP has no effect")
        [kind_note] = effects.notes(effects.check("Ingress", {}))
        assert kind_note.startswith("kind Ingress is recorded but not acted on")


class TestDeprecations:
    """Old apiVersions: accepted, with the Kubernetes release that removed each."""

    @pytest.mark.parametrize(("api_version", "kind", "release"), [
        ("extensions/v1beta1", "Deployment", "1.16"),
        ("apps/v1beta1", "Deployment", "1.16"),
        ("apps/v1beta2", "StatefulSet", "1.16"),
        ("extensions/v1beta1", "ReplicaSet", "1.16"),
        ("extensions/v1beta1", "Ingress", "1.22"),
        ("policy/v1beta1", "PodDisruptionBudget", "1.25"),
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26"),
    ])
    def test_warning_names_the_release(self, api_version: str, kind: str, release: str) -> None:
        """The warning says which Kubernetes release stopped serving it, and what to use."""
        info, _, problem = kinds.lookup(api_version, kind)
        assert info is not None, problem
        message = kinds.deprecation(info, api_version)
        assert message is not None
        assert f"removed in Kubernetes {release} (use {info.api_versions[0]})" in message

    def test_served_versions_have_no_warning(self) -> None:
        """A current apiVersion gets no deprecation."""
        for info in kinds.KINDS.values():
            assert kinds.deprecation(info, info.api_versions[0]) is None

    def test_every_removed_version_of_an_accepted_kind_is_accepted(self) -> None:
        """The table never names an apiVersion the loader would refuse anyway."""
        refused = [(version, kind) for (version, kind) in kinds.REMOVED_IN
                   if kind in kinds.KINDS and version not in kinds.KINDS[kind].api_versions]
        assert refused == []
