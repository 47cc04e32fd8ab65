"""ConfigMaps, Secrets and their consumers through the loader (reconciler.manifests.configkinds)."""

from __future__ import annotations

import base64
from pathlib import Path

from reconciler.manifests.loader import load_folder

SECRET_VALUE = "s3cr3t-Value-42"


def _load(tmp_path: Path, text: str) -> tuple[list[dict[str, object]], list[str]]:
    (tmp_path / "x.yaml").write_text(text)
    result = load_folder(tmp_path)
    return [o.body for o in result.objects], [d.render() for d in result.diagnostics]


class TestConfigMap:
    def test_valid_configmap_loads(self, tmp_path: Path) -> None:
        """data, binaryData and immutable are accepted."""
        bodies, diags = _load(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
                              "data: {a.conf: x}\nbinaryData: {b: AAEC}\nimmutable: true\n")
        assert diags == []
        assert bodies[0]["data"] == {"a.conf": "x"}

    def test_bad_key_and_duplicate_are_refused(self, tmp_path: Path) -> None:
        """A key with a slash, and a key in both data and binaryData, are errors."""
        _, diags = _load(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
                         "data: {a/b: x, k: y}\nbinaryData: {k: AAEC}\n")
        assert any("invalid key 'a/b'" in d for d in diags)
        assert any("duplicate of key 'k'" in d for d in diags)

    def test_bad_base64_in_binary_data(self, tmp_path: Path) -> None:
        """binaryData values must be base64."""
        _, diags = _load(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
                         "binaryData: {k: '***'}\n")
        assert any("not valid base64" in d for d in diags)


class TestSecret:
    def test_string_data_merges_into_data(self, tmp_path: Path) -> None:
        """stringData becomes base64 data and wins over data; type defaults to Opaque."""
        bodies, diags = _load(tmp_path, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                              f"data: {{a: eA==}}\nstringData: {{a: {SECRET_VALUE}, b: y}}\n")
        assert diags == []
        body = bodies[0]
        assert "stringData" not in body and body["type"] == "Opaque"
        assert body["data"] == {"a": base64.b64encode(SECRET_VALUE.encode()).decode(),
                                "b": "eQ=="}

    def test_type_required_keys(self, tmp_path: Path) -> None:
        """A TLS Secret needs tls.crt and tls.key; basic-auth needs username or password."""
        _, diags = _load(tmp_path, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                         "type: kubernetes.io/tls\ndata: {tls.crt: eA==}\n---\n"
                         "apiVersion: v1\nkind: Secret\nmetadata: {name: b}\n"
                         "type: kubernetes.io/basic-auth\ndata: {other: eA==}\n")
        assert any("needs tls.key" in d for d in diags)
        assert any("needs username or password" in d for d in diags)

    def test_dockerconfigjson_must_be_json(self, tmp_path: Path) -> None:
        """A dockerconfigjson Secret holds JSON."""
        bad = base64.b64encode(b"{not json").decode()
        _, diags = _load(tmp_path, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                         "type: kubernetes.io/dockerconfigjson\n"
                         f"data: {{.dockerconfigjson: {bad}}}\n")
        assert any("is not valid JSON" in d for d in diags)

    def test_errors_never_quote_a_value(self, tmp_path: Path) -> None:
        """A wrongly typed or non-base64 value is reported without the value itself."""
        _, diags = _load(tmp_path, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                         f"data: {{a: '{SECRET_VALUE}!'}}\n---\napiVersion: v1\nkind: Secret\n"
                         "metadata: {name: t}\nstringData: {n: [424242]}\n")
        assert len(diags) == 2
        assert not any(SECRET_VALUE in d or "424242" in d for d in diags)


class TestConsumers:
    POD = """apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  containers:
  - name: c
    image: busybox
{container}
  volumes:
{volumes}
"""

    def test_env_refs_env_from_and_volumes_load(self, tmp_path: Path) -> None:
        """Every consuming field is accepted, and config volumes are not made emptyDirs."""
        container = """    env:
    - {name: A, valueFrom: {configMapKeyRef: {name: c, key: k, optional: true}}}
    - {name: B, valueFrom: {secretKeyRef: {name: s, key: k}}}
    envFrom:
    - {prefix: X_, configMapRef: {name: c}}
    - secretRef: {name: s, optional: true}"""
        volumes = """  - {name: a, configMap: {name: c, items: [{key: k, path: d/k, mode: 0400}]}}
  - {name: b, secret: {secretName: s, defaultMode: 0400, optional: true}}
  - name: d
    projected: {sources: [{configMap: {name: c}}, {secret: {name: s}}], defaultMode: 0440}"""
        bodies, diags = _load(tmp_path, self.POD.format(container=container, volumes=volumes))
        assert diags == []
        assert all("emptyDir" not in v for v in bodies[0]["spec"]["volumes"])  # type: ignore

    def test_item_path_may_not_leave_the_volume(self, tmp_path: Path) -> None:
        """An items path with '..' or a leading '/' is refused."""
        volumes = "  - {name: a, configMap: {name: c, items: [{key: k, path: ../x}]}}"
        _, diags = _load(tmp_path, self.POD.format(container="", volumes=volumes))
        assert any("may not contain '..'" in d for d in diags)

    def test_two_sources_in_one_env_from(self, tmp_path: Path) -> None:
        """An envFrom item names one source."""
        container = "    envFrom:\n    - {configMapRef: {name: c}, secretRef: {name: s}}"
        _, diags = _load(tmp_path, self.POD.format(container=container, volumes="  - {name: e}"))
        assert any("exactly one of configMapRef and secretRef" in d for d in diags)
