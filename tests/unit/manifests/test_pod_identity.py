"""spec.hostname and spec.subdomain of Pods and templates: kept for DNS, checked as labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import load_folder

POD = """apiVersion: v1
kind: Pod
metadata: {{name: web-0}}
spec:
  hostname: {hostname}
  subdomain: {subdomain}
  containers: [{{name: app, image: busybox:1.36}}]
"""


def load(tmp_path: Path, text: str) -> tuple[list[dict[str, object]], list[str]]:
    (tmp_path / "obj.yaml").write_text(text)
    result = load_folder(tmp_path)
    return [o.body for o in result.objects], [d.render() for d in result.diagnostics]


class TestPodIdentity:
    def test_hostname_and_subdomain_kept(self, tmp_path: Path) -> None:
        """Both fields load without a warning and stay in the stored spec."""
        bodies, found = load(tmp_path, POD.format(hostname="web-0", subdomain="nginx"))
        assert found == []
        spec = bodies[0]["spec"]
        assert isinstance(spec, dict)
        assert (spec["hostname"], spec["subdomain"]) == ("web-0", "nginx")

    @pytest.mark.parametrize(("hostname", "subdomain", "field"), [
        ("web-0", "Bad_Name", "subdomain"),
        ("web.0", "nginx", "hostname"),
        ("web-0", "a.b", "subdomain"),
    ])
    def test_not_a_dns_label_is_an_error(self, tmp_path: Path, hostname: str, subdomain: str,
                                         field: str) -> None:
        """Each must be a DNS-1123 label, as Kubernetes validates them."""
        bodies, found = load(tmp_path, POD.format(hostname=hostname, subdomain=subdomain))
        assert bodies == []
        assert len(found) == 1 and f"error: spec.{field}: {field} " in found[0], found
        assert "is not a valid DNS-1123 label" in found[0], found
