"""What a pod takes from ConfigMaps and Secrets (reconciler.runtime.configrefs), pure."""

from __future__ import annotations

import pytest

from reconciler.runtime.configrefs import (
    ConfigObjects,
    File,
    MountError,
    data_of,
    env_from,
    env_value,
    referenced,
    volume_files,
)
from reconciler.runtime.spec import SpecError

CONFIGS = ConfigObjects("ns", {
    ("ConfigMap", "cm"): {"a": b"1", "b.conf": b"x=y", "bad name": b"z"},
    ("Secret", "s"): {"password": b"pw"},
    ("ConfigMap", "gone"): None,
})


class TestReferenced:
    def test_every_consumer_is_found(self) -> None:
        """env refs, envFrom and the three volume kinds are all named."""
        spec = {
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "s1"}}]}],
            "containers": [{"name": "c", "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}},
                {"name": "B", "value": "plain"}]}],
            "volumes": [{"name": "v", "configMap": {"name": "c2"}},
                        {"name": "w", "secret": {"secretName": "s2"}},
                        {"name": "x", "projected": {"sources": [{"configMap": {"name": "c3"}},
                                                                {"secret": {"name": "s3"}}]}},
                        {"name": "e", "emptyDir": {}}]}
        assert referenced(spec) == {("Secret", "s1"), ("ConfigMap", "c1"), ("ConfigMap", "c2"),
                                    ("Secret", "s2"), ("ConfigMap", "c3"), ("Secret", "s3")}


class TestEnv:
    def test_values_and_optional(self) -> None:
        """A key's value; an optional missing object or key leaves the variable out."""
        assert env_value({"secretKeyRef": {"name": "s", "key": "password"}}, CONFIGS) == "pw"
        assert env_value({"configMapKeyRef": {"name": "gone", "key": "a", "optional": True}},
                         CONFIGS) is None
        assert env_value({"configMapKeyRef": {"name": "cm", "key": "no", "optional": True}},
                         CONFIGS) is None

    @pytest.mark.parametrize(("source", "message"), [
        ({"configMapKeyRef": {"name": "gone", "key": "a"}}, 'configmap "gone" not found'),
        ({"secretKeyRef": {"name": "nope", "key": "a"}}, 'secret "nope" not found'),
        ({"configMapKeyRef": {"name": "cm", "key": "k"}}, "couldn't find key k in ConfigMap ns/cm"),
        ({"secretKeyRef": {"name": "s", "key": "k"}}, "couldn't find key k in Secret ns/s"),
    ])
    def test_missing_in_kubelets_words(self, source: dict[str, object], message: str) -> None:
        """A missing object or key is a SpecError worded as kubelet's."""
        with pytest.raises(SpecError) as e:
            env_value(source, CONFIGS)
        assert str(e.value) == message

    def test_env_from_prefix_and_invalid_names(self) -> None:
        """envFrom adds every key with its prefix, skipping keys that are no env name."""
        got = env_from({"envFrom": [{"prefix": "P_", "configMapRef": {"name": "cm"}},
                                    {"secretRef": {"name": "absent", "optional": True}}]}, CONFIGS)
        assert got == [("P_a", "1"), ("P_b.conf", "x=y")]
        with pytest.raises(SpecError, match='configmap "gone" not found'):
            env_from({"envFrom": [{"configMapRef": {"name": "gone"}}]}, CONFIGS)


class TestVolumeFiles:
    def test_all_keys_with_default_mode(self) -> None:
        """Without items every key is a file, with defaultMode (0644 by default)."""
        files = volume_files({"name": "v", "secret": {"secretName": "s", "defaultMode": 0o400}},
                             CONFIGS)
        assert files == [File("password", b"pw", 0o400)]
        assert volume_files({"name": "v", "configMap": {"name": "cm"}}, CONFIGS)[0].mode == 0o644

    def test_items_paths_and_modes(self) -> None:
        """items choose keys, their paths and modes."""
        files = volume_files({"name": "v", "configMap": {"name": "cm", "items": [
            {"key": "a", "path": "d/a.txt", "mode": 0o600}]}}, CONFIGS)
        assert files == [File("d/a.txt", b"1", 0o600)]

    def test_projected_merges_sources(self) -> None:
        """A projected volume holds its sources' files, later ones winning a path."""
        files = volume_files({"name": "v", "projected": {"defaultMode": 0o440, "sources": [
            {"configMap": {"name": "cm", "items": [{"key": "a", "path": "x"}]}},
            {"secret": {"name": "s", "items": [{"key": "password", "path": "x"}]}},
            {"configMap": {"name": "gone", "optional": True}}]}}, CONFIGS)
        assert files == [File("x", b"pw", 0o440)]

    @pytest.mark.parametrize(("volume", "message"), [
        ({"configMap": {"name": "gone"}}, 'configmap "gone" not found'),
        ({"secret": {"secretName": "x"}}, 'secret "x" not found'),
        ({"configMap": {"name": "cm", "items": [{"key": "k", "path": "k"}]}},
         "configmap references non-existent config key: k"),
    ])
    def test_missing_is_a_mount_error(self, volume: dict[str, object], message: str) -> None:
        """A missing object or item key keeps the volume from being made (kubelet's words)."""
        with pytest.raises(MountError) as e:
            volume_files({"name": "v", **volume}, CONFIGS)
        assert str(e.value) == message

    def test_optional_missing_is_empty(self) -> None:
        """An optional missing object gives an empty volume."""
        assert volume_files({"name": "v", "configMap": {"name": "gone", "optional": True}},
                            CONFIGS) == []


class TestDataOf:
    def test_configmap_and_secret_bodies(self) -> None:
        """ConfigMap data is text, binaryData and Secret data are base64."""
        assert data_of("ConfigMap", {"data": {"a": "x"}, "binaryData": {"b": "AAE="}}) == \
            {"a": b"x", "b": b"\x00\x01"}
        assert data_of("Secret", {"data": {"p": "cHc="}}) == {"p": b"pw"}
